"""agentwatch: OpenTelemetry GenAI spans and Prometheus metrics for LLM agents, with token usage,
estimated cost, latency and outcome for every model call, embedding, vector search, tool and stage.

Before :func:`configure` is called every decorator and context manager is a cheap no-op, so
libraries can decorate their functions at import time.
"""

from agentwatch.call import Call
from agentwatch.config import Telemetry, configure, current, shutdown
from agentwatch.context import context
from agentwatch.cost import Cost
from agentwatch.decorators import (
    current_call,
    stage,
    track_embedding,
    track_inference,
    track_tool,
    track_vector_search,
)
from agentwatch.errors import ConfigurationError
from agentwatch.logs import TraceContextFilter, configure_json_logging
from agentwatch.pricing import PriceBook, estimate_cost
from agentwatch.prometheus import prometheus_asgi_app, prometheus_wsgi_app
from agentwatch.tokens import count_tokens
from agentwatch.usage import Usage

__version__ = "0.1.0"

__all__ = [
    "Call",
    "ConfigurationError",
    "Cost",
    "PriceBook",
    "Telemetry",
    "TraceContextFilter",
    "Usage",
    "__version__",
    "configure",
    "configure_json_logging",
    "context",
    "count_tokens",
    "current",
    "current_call",
    "estimate_cost",
    "prometheus_asgi_app",
    "prometheus_wsgi_app",
    "shutdown",
    "stage",
    "track_embedding",
    "track_inference",
    "track_tool",
    "track_vector_search",
]
