"""LangGraph handler overhead: µs added per invocation of a 4-node graph.

Case ``langgraph_4_nodes``: plan -> retrieve -> draft -> review, three chat-model calls that report
usage and one retriever, fake model and retriever (no I/O). Variants, interleaved round by round:

* ``bare``            no callbacks at all;
* ``minimal_handler`` the practical floor of "callback + span + metric": a handler that opens and
                      ends one OpenTelemetry span per graph run and bumps one Prometheus counter and
                      one histogram (it still receives every LangChain callback); ``x floor`` is
                      the added time as a multiple of this one's;
* ``agentwatch``      agentwatch's ``CallbackHandler``, everything on: a span per graph, node, model
                      call and retrieval with the semconv attributes, cost, rollups, Prometheus
                      metrics.

Both instrumented variants export through the processor ``configure()`` builds by default, to an
exporter that only counts. Run: ``python -m benchmarks.overhead.bench_langgraph [--quick]``; one
JSON line per variant (protocol in README.md).
"""

from __future__ import annotations

import operator
import sys
import time
from collections.abc import Sequence
from typing import Annotated, Any, TypedDict
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langgraph.graph import END, START, StateGraph
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from prometheus_client import CollectorRegistry, Counter, Histogram

import agentwatch
from agentwatch_langgraph import CallbackHandler
from agentwatch_langgraph.testing import FakeChatModel, FakeRetriever

try:  # the processor configure() builds by default
    from agentwatch import delivery
    from agentwatch.delivery import GuardedSpanProcessor as DefaultProcessor
except ImportError:  # pragma: no cover - only when measuring an old checkout
    from opentelemetry.sdk.trace.export import BatchSpanProcessor as DefaultProcessor  # type: ignore[assignment]

    delivery = None  # type: ignore[assignment]

from ._measure import Variant, arguments, emit, run_case

CASE = "langgraph_4_nodes"


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


class CountingExporter(SpanExporter):
    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


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


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv, __doc__.splitlines()[0] if __doc__ else "")
    graph = build_graph()
    ours, floor = CountingExporter(), CountingExporter()
    ours_provider = TracerProvider(shutdown_on_exit=False)
    ours_provider.add_span_processor(DefaultProcessor(ours))
    floor_provider = TracerProvider(shutdown_on_exit=False)
    floor_provider.add_span_processor(DefaultProcessor(floor))
    agentwatch.configure(
        tracer_provider=ours_provider, prometheus_registry=CollectorRegistry(auto_describe=True)
    )
    handler = CallbackHandler()
    minimal = MinimalHandler(floor_provider.get_tracer("minimal"), CollectorRegistry())
    state = {"question": "What is the refund policy for damaged items?", "notes": []}
    bare_config: dict[str, Any] = {}
    floor_config = {"callbacks": [minimal]}
    ours_config = {"callbacks": [handler]}

    def flush() -> None:
        ours_provider.force_flush(30_000)
        floor_provider.force_flush(30_000)

    rows = run_case(
        CASE,
        [
            Variant("bare", lambda i: graph.invoke(state, config=bare_config)),
            Variant(
                "minimal_handler",
                lambda i: graph.invoke(state, config=floor_config),
                spans=lambda: floor.spans,
                floor=True,
            ),
            Variant(
                "agentwatch", lambda i: graph.invoke(state, config=ours_config), spans=lambda: ours.spans
            ),
        ],
        args,
        flush,
    )
    for row in rows:
        row["note"] = "3 chat calls with usage + 1 retriever, fake, no I/O"
        if row["variant"] == "agentwatch":
            row["open_runs_after"] = handler.open_runs
    if delivery is not None:
        _, dropped = delivery.stats()
        for row in rows:
            if row["variant"] != "bare":
                row["spans_dropped"] = sum(dropped.values())
    emit(rows)
    agentwatch.shutdown()
    ours_provider.shutdown()
    floor_provider.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
