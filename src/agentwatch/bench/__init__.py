"""``agentwatch bench``: run a workload over its inputs, record every model call's usage, and report
cost per run, per stage and per model, what the same usage would cost on other models, and whether
cost grew against a baseline.

    from agentwatch.bench import BenchOptions, run_benchmark
    result = run_benchmark(BenchOptions(workload="my_agent:graph", inputs=Path("inputs.jsonl")))
    result.results["cost_per_run_usd"]["mean"]
"""

from agentwatch.bench.analysis import ModelRef, analyse, timings
from agentwatch.bench.baseline import Verdict, compare, parse_threshold
from agentwatch.bench.collect import CallFact, Collected, RunFact, StageFact, collect
from agentwatch.bench.runner import BenchOptions, BenchResult, run_benchmark
from agentwatch.bench.workload import BenchError, load_inputs, load_workload

__all__ = [
    "BenchError",
    "BenchOptions",
    "BenchResult",
    "CallFact",
    "Collected",
    "ModelRef",
    "RunFact",
    "StageFact",
    "Verdict",
    "analyse",
    "collect",
    "compare",
    "load_inputs",
    "load_workload",
    "parse_threshold",
    "run_benchmark",
    "timings",
]
