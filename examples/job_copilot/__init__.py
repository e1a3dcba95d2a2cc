"""A job-application copilot built with LangGraph, the OpenAI and Anthropic SDKs and a vector store.

Runs offline against agentwatch's bundled fake provider; with API keys set it runs for real.
``agentwatch demo`` runs it N times and prints what each stage and model cost; ``agentwatch bench
examples.job_copilot.workload:graph`` prices it per model (see benchmarks/cost/).
"""

from .app import Copilot, Models, applications, demo_latency, load_jsonl
from .graph import GRAPH_NAME, MATCH_THRESHOLD, build_graph

__all__ = [
    "GRAPH_NAME",
    "MATCH_THRESHOLD",
    "Copilot",
    "Models",
    "applications",
    "build_graph",
    "demo_latency",
    "load_jsonl",
]
