"""LangGraph handler overhead: microseconds added per graph invocation.

The workflow: a 4-node LangGraph graph (plan -> retrieve -> draft -> review: three chat-model calls
that report usage, one retriever), fake model and retriever, no I/O. Three variants, interleaved
round by round in one process so machine noise hits them alike:

* ``bare``       no callbacks at all;
* ``minimal``    the practical floor of "callback + span + metric": a handler that opens and ends
                 one OpenTelemetry span per graph run and bumps one Prometheus counter and one
                 histogram (it still receives every LangChain callback);
* ``agentwatch`` agentwatch's ``CallbackHandler`` with everything on: a span per graph, node,
                 model call and retrieval, semconv attributes, cost, rollups, Prometheus metrics.

Both instrumented variants export through a ``BatchSpanProcessor`` (to an exporter that drops the
batches, so export I/O is not measured). Run: ``python benchmarks/overhead/bench_langgraph.py``
(``--json`` for machine-readable output).
"""

from __future__ import annotations

import argparse
import gc
import json
import operator
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, TypedDict
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langgraph.graph import END, START, StateGraph
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from prometheus_client import CollectorRegistry, Counter, Histogram

import agentwatch
from agentwatch_langgraph import CallbackHandler
from agentwatch_langgraph.testing import FakeChatModel, FakeRetriever

VARIANTS = ("bare", "minimal", "agentwatch")


class State(TypedDict):
    question: str
    notes: Annotated[list[str], operator.add]


def build_graph() -> Any:
    llm = FakeChatModel(responses=["Refunds are issued within 14 days of the return."])
    retriever = FakeRetriever(k=4)

    def plan(s: State) -> dict[str, Any]:
        return {"notes": [llm.invoke(f"Plan an answer to: {s['question']}").content]}

    def retrieve(s: State) -> dict[str, Any]:
        return {"notes": [d.page_content for d in retriever.invoke(s["question"])]}

    def draft(s: State) -> dict[str, Any]:
        return {"notes": [llm.invoke(f"Draft an answer to: {s['question']}").content]}

    def review(s: State) -> dict[str, Any]:
        return {"notes": [llm.invoke(f"Review this draft: {s['notes'][-1]}").content]}

    g: StateGraph[Any] = StateGraph(State)
    for name, fn in (("plan", plan), ("retrieve", retrieve), ("draft", draft), ("review", review)):
        g.add_node(name, fn)
    g.add_edge(START, "plan")
    g.add_edge("plan", "retrieve")
    g.add_edge("retrieve", "draft")
    g.add_edge("draft", "review")
    g.add_edge("review", END)
    return g.compile(name="support_agent")


class _DropExporter(SpanExporter):
    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        return SpanExportResult.SUCCESS


class MinimalHandler(BaseCallbackHandler):
    """The floor: one span per graph run, one counter, one histogram."""

    def __init__(self, tracer: trace.Tracer, registry: CollectorRegistry) -> None:
        self.tracer = tracer
        self.runs = Counter("minimal_runs", "Graph runs.", ["outcome"], registry=registry)
        self.duration = Histogram("minimal_run_seconds", "Graph run duration.", registry=registry)
        self.open: dict[UUID, tuple[trace.Span, float]] = {}

    def on_chain_start(
        self, serialized: Any, inputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        if parent_run_id is None:
            self.open[run_id] = (self.tracer.start_span(kwargs.get("name") or "graph"), time.perf_counter())

    def _end(self, run_id: UUID, outcome: str) -> None:
        entry = self.open.pop(run_id, None)
        if entry is not None:
            span, started = entry
            span.end()
            self.runs.labels(outcome).inc()
            self.duration.observe(time.perf_counter() - started)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, "ok")

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, "error")


def _rss_kib() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run(rounds: int = 15, per_round: int = 100, warmup: int = 100, seed: int = 0) -> dict[str, Any]:
    """Measure the three variants; returns per-variant samples (µs per invocation) and summaries."""
    graph = build_graph()
    ours_exporter, minimal_exporter = _DropExporter(), _DropExporter()
    ours_provider, minimal_provider = TracerProvider(), TracerProvider()
    ours_provider.add_span_processor(BatchSpanProcessor(ours_exporter))
    minimal_provider.add_span_processor(BatchSpanProcessor(minimal_exporter))
    agentwatch.configure(tracer_provider=ours_provider, prometheus_registry=CollectorRegistry())
    handler = CallbackHandler()
    minimal = MinimalHandler(minimal_provider.get_tracer("minimal"), CollectorRegistry())
    configs: dict[str, dict[str, Any]] = {
        "bare": {},
        "minimal": {"callbacks": [minimal]},
        "agentwatch": {"callbacks": [handler]},
    }
    state = {"question": "What is the refund policy for damaged items?", "notes": []}

    def invoke(variant: str) -> None:
        graph.invoke(state, config=configs[variant])

    for variant in VARIANTS:
        for _ in range(warmup):
            invoke(variant)
    samples: dict[str, list[float]] = {v: [] for v in VARIANTS}
    rss: dict[str, int] = {v: 0 for v in VARIANTS}
    order = list(VARIANTS)
    rng = random.Random(seed)
    clock: Callable[[], int] = time.perf_counter_ns
    gc.collect()
    for _ in range(rounds):
        rng.shuffle(order)
        for variant in order:
            before = _rss_kib()
            out = samples[variant]
            for _ in range(per_round):
                t0 = clock()
                invoke(variant)
                out.append((clock() - t0) / 1000)
            rss[variant] += _rss_kib() - before
    ours_provider.force_flush()
    minimal_provider.force_flush()
    invocations = rounds * per_round + warmup
    result: dict[str, Any] = {
        "workflow": "4 nodes: 3 chat-model calls with usage, 1 retriever (fake, no I/O)",
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {platform.system()} {platform.release()}",
        "rounds": rounds,
        "per_round": per_round,
        "variants": {},
        "spans_per_invocation": {
            "minimal": minimal_exporter.spans / invocations,
            "agentwatch": ours_exporter.spans / invocations,
        },
        "open_runs_after": handler.open_runs,
    }
    bare = statistics.median(samples["bare"])
    bare_min = statistics.median(samples["minimal"])
    for variant in VARIANTS:
        xs = sorted(samples[variant])
        median = statistics.median(xs)
        result["variants"][variant] = {
            "median_us": round(median, 1),
            "p90_us": round(xs[int(0.9 * (len(xs) - 1))], 1),
            "added_us": round(median - bare, 1),
            "ratio_vs_bare": round(median / bare, 3),
            "rss_growth_kib": rss[variant],
        }
    added_min = bare_min - bare
    added_ours = result["variants"]["agentwatch"]["added_us"]
    result["agentwatch_added_vs_minimal_added"] = round(added_ours / added_min, 2) if added_min > 0 else None
    agentwatch.shutdown()
    ours_provider.shutdown()
    minimal_provider.shutdown()
    return result


def _table(result: dict[str, Any]) -> str:
    lines = [
        f"LangGraph {result['workflow']}; Python {result['python']}, {result['machine']}",
        f"{result['rounds']} interleaved rounds x {result['per_round']} invocations per variant",
        "",
        f"{'variant':<11} {'median µs':>10} {'p90 µs':>9} {'added µs':>9} {'x bare':>7} {'spans/run':>10}",
    ]
    spans = result["spans_per_invocation"]
    for variant, v in result["variants"].items():
        per_run = spans.get(variant, 0.0)
        lines.append(
            f"{variant:<11} {v['median_us']:>10.1f} {v['p90_us']:>9.1f} {v['added_us']:>9.1f} "
            f"{v['ratio_vs_bare']:>7.2f} {per_run:>10.1f}"
        )
    lines.append("")
    lines.append(f"agentwatch added / minimal added: {result['agentwatch_added_vs_minimal_added']}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--per-round", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    result = run(rounds=args.rounds, per_round=args.per_round, warmup=args.warmup)
    print(json.dumps(result, indent=2) if args.json else _table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
