"""LangGraph handler overhead: µs added per invocation of a 4-node graph, next to the peers.

Case ``langgraph_4_nodes``: plan -> retrieve -> draft -> review, three chat-model calls that report
usage and one retriever, fake model and retriever (no I/O). Variants, interleaved round by round:

* ``bare``            no callbacks at all;
* ``minimal_handler`` the practical floor of "callback + span + metric": a handler that opens and
                      ends one OpenTelemetry span per LangChain run (the graph, each node, each
                      model call and the retrieval: 9 per invocation, each under its parent run's
                      span) and bumps one Prometheus counter and one histogram per run, nothing
                      else; ``x floor`` is the added time as a multiple of this one's;
* ``openinference``   OpenInference's ``LangChainInstrumentor().instrument(tracer_provider=...)``;
* ``openllmetry``     OpenLLMetry's (Traceloop) ``LangchainInstrumentor().instrument(tracer_provider=...,
                      meter_provider=...)`` (an SDK meter provider with an in-memory reader, so its
                      duration and token histograms are recorded like agentwatch's metrics);
* ``langfuse``        Langfuse's ``langfuse.langchain.CallbackHandler`` in ``config["callbacks"]``, its
                      client built with dummy keys and ``base_url`` at a closed local port;
* ``agentwatch``      agentwatch's ``CallbackHandler``, everything on: a span per graph, node, model
                      call and retrieval with the semconv attributes, cost, rollups, Prometheus
                      metrics.

Every peer runs with its defaults (content capture on, as a user gets it) and is enabled only when
its package imports (a line on stderr says which are missing; ``setup_env.sh`` here builds the
environment that has them all). ``x peer`` is the added time as a multiple of the fastest peer's.

Spans: every instrumented variant has its own ``TracerProvider``. agentwatch, the floor,
OpenInference and OpenLLMetry export through the processor ``configure()`` builds by default, to an
exporter that only counts; ``spans_dropped`` is that processor's own count. Langfuse always adds its
own processor (a ``BatchSpanProcessor``) to the provider it is given, so it keeps that one, exporting
through a counting wrapper to an OTLP exporter at the closed port (its real export path: protobuf
encoding and gzip on its export thread; a refused connection fails at once, so its queue is not
filled by a backend that is down). Its drops are the spans that ended but were never handed to the
exporter (counted by a processor that only counts, ahead of Langfuse's).

Global patches: OpenInference and OpenLLMetry patch LangChain (and LangGraph) classes, so each one is
instrumented only during its own batches (``Variant.enter`` / ``leave``); both restore the patched
functions when uninstrumented, and every ``leave`` checks that they did (the run stops with an error
otherwise), so the other variants always run on the pristine classes. This keeps all six variants
in one process, interleaved. Instrumenting happens outside the timed calls.

The rounds are shared among :data:`PROCESSES` such processes, run one after another, and each
variant's times are averaged over them (``_measure.in_workers``; README.md says why).

One invocation takes milliseconds and a peer's several times that, so unless given, ``--calls``
defaults to 50 per round and ``--rss-calls`` to 2000 here (``--quick``: 3 rounds of 20, in one
process). Run:
``python -m benchmarks.overhead.bench_langgraph [--quick]``; one JSON line per variant (protocol in
README.md).
"""

from __future__ import annotations

import logging
import operator
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, TypedDict
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langgraph.graph import END, START, StateGraph
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from prometheus_client import CollectorRegistry, Counter, Histogram

import agentwatch
from agentwatch_langgraph import CallbackHandler
from agentwatch_langgraph.testing import FakeChatModel, FakeRetriever

try:  # the processor configure() builds by default
    from agentwatch.delivery import GuardedSpanProcessor as DefaultProcessor
except ImportError:  # pragma: no cover - only when measuring an old checkout
    from opentelemetry.sdk.trace.export import BatchSpanProcessor as DefaultProcessor  # type: ignore[assignment]

from ._measure import Variant, arguments, delegated, emit, run_case

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
        # (LangGraph's overloads want a node input type mypy does not match a TypedDict to)
        g.add_node(name, fn)  # type: ignore[call-overload]
    g.add_edge(START, "plan")
    g.add_edge("plan", "retrieve")
    g.add_edge("retrieve", "draft")
    g.add_edge("draft", "review")
    g.add_edge("review", END)
    return g.compile(name="support_agent")


#: the input of every invocation (LangGraph copies it into the run's state; it is never changed)
STATE: dict[str, Any] = {"question": "What is the refund policy for damaged items?", "notes": []}


class CountingExporter(SpanExporter):
    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


class MinimalHandler(BaseCallbackHandler):
    """The floor: one span per run (under its parent run's span), one counter, one histogram.

    A "run" is LangChain's: every start/end pair of callbacks with its own ``run_id``. No
    attributes, no usage, no cost: only what any handler that traces each run must do.
    """

    def __init__(self, tracer: trace.Tracer, registry: CollectorRegistry) -> None:
        self.tracer = tracer
        self.runs = Counter("minimal_runs", "LangChain runs.", ["outcome"], registry=registry)
        self.duration = Histogram("minimal_run_seconds", "LangChain run duration.", registry=registry)
        self.open: dict[UUID, tuple[trace.Span, float]] = {}

    def _start(self, name: str, run_id: UUID, parent_run_id: UUID | None) -> None:
        parent = self.open.get(parent_run_id) if parent_run_id is not None else None
        context = trace.set_span_in_context(parent[0]) if parent is not None else None
        self.open[run_id] = (self.tracer.start_span(name, context=context), time.perf_counter())

    def _end(self, run_id: UUID, outcome: str) -> None:
        entry = self.open.pop(run_id, None)
        if entry is not None:
            span, started = entry
            span.end()
            self.runs.labels(outcome).inc()
            self.duration.observe(time.perf_counter() - started)

    def on_chain_start(
        self, serialized: Any, inputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        self._start(kwargs.get("name") or "chain", run_id, parent_run_id)

    def on_chat_model_start(
        self, serialized: Any, messages: Any, *, run_id: UUID, parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._start("chat", run_id, parent_run_id)

    def on_llm_start(
        self, serialized: Any, prompts: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        self._start("llm", run_id, parent_run_id)

    def on_retriever_start(
        self, serialized: Any, query: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        self._start("retriever", run_id, parent_run_id)

    def on_tool_start(
        self, serialized: Any, input_str: Any, *, run_id: UUID, parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._start("tool", run_id, parent_run_id)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, "ok")

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, "ok")

    def on_retriever_end(self, documents: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, "ok")

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, "ok")

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, "error")

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, "error")

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, "error")

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, "error")


class EndCounter(SpanProcessor):
    """Counts spans as they end (nothing else): how many the processors after it were handed."""

    def __init__(self) -> None:
        self.ended = 0

    def on_end(self, span: ReadableSpan) -> None:
        self.ended += 1


class ForwardingCounter(SpanExporter):
    """Counts what it is given, then hands it to ``inner``."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        return self.inner.export(spans)

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self.inner.force_flush(timeout_millis))


@dataclass
class Instrumented:
    """One instrumented variant's wiring: its provider, how it is attached, how spans are counted."""

    name: str
    provider: TracerProvider
    spans: Callable[[], int]
    dropped: Callable[[], int | None]
    config: dict[str, Any] = field(default_factory=dict)
    enter: Callable[[], None] | None = None
    leave: Callable[[], None] | None = None
    close: Callable[[], None] | None = None
    peer: bool = True


def counted(name: str, *, peer: bool = True, config: dict[str, Any] | None = None) -> Instrumented:
    """A provider with the default processor and a counting exporter."""
    exporter = CountingExporter()
    processor = DefaultProcessor(exporter)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(processor)

    def dropped() -> int | None:
        counts = getattr(processor, "dropped", None)  # GuardedSpanProcessor's own count
        return sum(counts.values()) if isinstance(counts, dict) else None

    return Instrumented(name, provider, lambda: exporter.spans, dropped, config or {}, peer=peer)


def _patch_points() -> dict[str, tuple[Any, str]]:
    """Where the instrumentors patch LangChain / LangGraph: name -> (owner, attribute)."""
    import langgraph.prebuilt
    import langgraph.prebuilt.chat_agent_executor
    from langchain_core.callbacks import BaseCallbackManager
    from langgraph.pregel import Pregel
    from langgraph.types import Command

    return {
        "BaseCallbackManager.__init__": (BaseCallbackManager, "__init__"),
        "Pregel.stream": (Pregel, "stream"),
        "Pregel.astream": (Pregel, "astream"),
        "Command.__init__": (Command, "__init__"),
        "langgraph.prebuilt.create_react_agent": (langgraph.prebuilt, "create_react_agent"),
        "chat_agent_executor.create_react_agent": (langgraph.prebuilt.chat_agent_executor,
                                                   "create_react_agent"),
    }


#: name -> (owner, attribute, the unpatched object), taken before any peer is instrumented
PRISTINE: dict[str, tuple[Any, str, Any]] = {}
#: patches a peer's uninstrument() left behind, put back by the benchmark: peer -> names
RESTORED: dict[str, set[str]] = {}


def _take_pristine() -> None:
    for key, (owner, attr) in _patch_points().items():
        PRISTINE[key] = (owner, attr, vars(owner).get(attr))


def _uninstrumented(name: str) -> None:
    """Put back whatever ``name``'s uninstrument() left patched, so the other variants run unpatched."""
    for key, (owner, attr, original) in PRISTINE.items():
        if vars(owner).get(attr) is not original:
            setattr(owner, attr, original)
            RESTORED.setdefault(name, set()).add(key)
    still = [key for key, (owner, attr, kept) in PRISTINE.items() if vars(owner).get(attr) is not kept]
    if still:
        raise RuntimeError(f"{name}: could not restore {', '.join(still)} after uninstrument()")


def _missing(label: str, exc: ImportError) -> None:
    print(f"{label} not available ({exc}); the bench environment has it: "
          "benchmarks/overhead/setup_env.sh", file=sys.stderr)


def _toggled(peer: Instrumented, instrumentor: Any, **kwargs: Any) -> Instrumented:
    """Instrument on entering a batch of ``peer``, uninstrument (and check it) on leaving it."""

    def leave() -> None:
        instrumentor.uninstrument()
        _uninstrumented(peer.name)

    peer.enter = lambda: instrumentor.instrument(tracer_provider=peer.provider, **kwargs)
    peer.leave = leave
    return peer


def openinference() -> Instrumented | None:
    try:
        from openinference.instrumentation.langchain import LangChainInstrumentor
    except ImportError as exc:
        _missing("OpenInference (openinference-instrumentation-langchain)", exc)
        return None
    return _toggled(counted("openinference"), LangChainInstrumentor())


def openllmetry() -> Instrumented | None:
    try:
        from opentelemetry.instrumentation.langchain import LangchainInstrumentor
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    except ImportError as exc:
        _missing("OpenLLMetry (opentelemetry-instrumentation-langchain)", exc)
        return None
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    return _toggled(counted("openllmetry"), LangchainInstrumentor(), meter_provider=meter_provider)


def closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def langfuse() -> Instrumented | None:
    try:
        from langfuse import Langfuse
        from langfuse.langchain import CallbackHandler as LangfuseHandler
        from opentelemetry.exporter.otlp.proto.http import Compression
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        _missing("Langfuse (langfuse)", exc)
        return None
    # the export target is refused at once: no retry sleeps, and nothing leaves the machine
    logging.getLogger("opentelemetry.exporter.otlp").setLevel(logging.CRITICAL)
    endpoint = f"http://127.0.0.1:{closed_port()}"
    exporter = ForwardingCounter(
        OTLPSpanExporter(endpoint=f"{endpoint}/api/public/otel/v1/traces", timeout=0.2,
                         compression=Compression.Gzip)
    )
    ended = EndCounter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(ended)
    client = Langfuse(public_key="pk-lf-bench", secret_key="sk-lf-bench", base_url=endpoint, timeout=1,
                      tracer_provider=provider, span_exporter=exporter)
    handler = LangfuseHandler(public_key="pk-lf-bench")

    def close() -> None:
        # bounded: Langfuse's shutdown flushes its processor, whose export is refused at once
        done = threading.Thread(target=client.shutdown, name="langfuse-shutdown", daemon=True)
        done.start()
        done.join(10)

    return Instrumented("langfuse", provider, lambda: exporter.spans, lambda: ended.ended - exporter.spans,
                        {"callbacks": [handler]}, close=close)


#: fresh processes the rounds are shared among, as in bench_clients (see _measure.in_workers)
PROCESSES = 6


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    args = arguments(given, __doc__.splitlines()[0] if __doc__ else "")
    if args.quick:
        args.rounds, args.calls, args.rss_calls = 3, 20, 200
    else:
        if not any(a.startswith("--calls") for a in given):
            args.calls = 50
        if not any(a.startswith("--rss-calls") for a in given):
            args.rss_calls = 2000
    if delegated("benchmarks.overhead.bench_langgraph", args, PROCESSES):
        return 0
    graph = build_graph()
    _take_pristine()
    ours = counted("agentwatch", peer=False)
    agentwatch.configure(
        tracer_provider=ours.provider, prometheus_registry=CollectorRegistry(auto_describe=True)
    )
    handler = CallbackHandler()
    ours.config = {"callbacks": [handler]}
    floor = counted("minimal_handler", peer=False)
    floor.config = {"callbacks": [MinimalHandler(floor.provider.get_tracer("minimal"), CollectorRegistry())]}
    peers = [p for p in (openinference(), openllmetry(), langfuse()) if p is not None]
    instrumented = [floor, *peers, ours]
    state = STATE

    def invoke(config: dict[str, Any]) -> Callable[[int], Any]:
        return lambda i: graph.invoke(state, config=config)

    def flush() -> None:
        for v in instrumented:
            v.provider.force_flush(30_000)

    variants = [Variant("bare", invoke({}))]
    for v in instrumented:
        variants.append(Variant(v.name, invoke(v.config), spans=v.spans, floor=v is floor, peer=v.peer,
                                enter=v.enter, leave=v.leave))
    rows = run_case(CASE, variants, args, flush)
    by_name = {v.name: v for v in instrumented}
    for row in rows:
        row["note"] = "3 chat calls with usage + 1 retriever, fake, no I/O"
        wiring = by_name.get(row["variant"])
        if wiring is not None:
            row["spans_dropped"] = wiring.dropped()
        if row["variant"] == "agentwatch":
            row["open_runs_after"] = handler.open_runs
        if row["variant"] in RESTORED:
            row["note"] += (f"; uninstrument() left {', '.join(sorted(RESTORED[row['variant']]))} patched: "
                            "put back by the benchmark after each of its batches")
    emit(rows)
    agentwatch.shutdown()
    for v in instrumented:
        if v.close is not None:
            v.close()
        v.provider.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
