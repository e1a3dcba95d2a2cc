"""Overhead of the decorators: µs added per call over the bare function, next to a bare OTel span.

Cases (one process, variants interleaved round by round):

* ``track_inference``: an OpenAI-shaped chat result with usage; agentwatch reads the usage,
  prices it (cost), sets the semconv attributes, updates the Prometheus metrics and exports one
  span through the default batch processor (to an exporter that only counts).
* ``track_vector_search``: five documents with ids and scores.
* ``track_tool``: a plain tool function.

Variants: ``bare`` (the undecorated function), ``otel_span`` (the bare function inside a bare OTel
span start/end on the same provider: the floor of any span-based instrumentation; ``x floor`` is
the added time as a multiple of this one's), ``otel_span_attrs`` (the same span carrying by hand
the 14 attributes agentwatch sets: what the semconv attributes alone cost in the OTel SDK),
``off`` (the decorated function before ``configure()``) and the decorated function.

Run: ``python -m benchmarks.overhead.bench_decorators [--quick]``; one JSON line per variant.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry

import agentwatch
from agentwatch import _state

try:  # the processor configure() builds by default; older versions used the SDK's batch processor
    from agentwatch import delivery
    from agentwatch.delivery import GuardedSpanProcessor as DefaultProcessor
except ImportError:  # pragma: no cover - only when measuring an old checkout
    from opentelemetry.sdk.trace.export import BatchSpanProcessor as DefaultProcessor  # type: ignore[assignment]

    delivery = None  # type: ignore[assignment]

from ._measure import Variant, arguments, emit, run_case

#: what the other benchmark modules take from here
__all__ = ["CHAT_RESULT", "CountingExporter", "DefaultProcessor", "main"]

CHAT_RESULT: dict[str, Any] = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "model": "gpt-4o-2024-08-06",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Fine."}, "finish_reason": "stop"}],
    "usage": {
        "prompt_tokens": 1200,
        "completion_tokens": 150,
        "total_tokens": 1350,
        "prompt_tokens_details": {"cached_tokens": 400},
        "completion_tokens_details": {"reasoning_tokens": 0},
    },
}
# What agentwatch's span for CHAT_RESULT carries, set by hand on a bare span (the "otel_span_attrs"
# variant): the cost of the semconv attributes themselves in the OTel SDK.
START_ATTRIBUTES: dict[str, Any] = {
    "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
}
END_ATTRIBUTES: dict[str, Any] = {
    "gen_ai.response.model": "gpt-4o-2024-08-06", "gen_ai.response.id": "chatcmpl-bench",
    "gen_ai.response.finish_reasons": ("stop",), "gen_ai.usage.input_tokens": 1200,
    "gen_ai.usage.output_tokens": 150, "gen_ai.usage.cache_read.input_tokens": 400,
    "agentwatch.usage.estimated": False, "agentwatch.cost.usd": 0.004, "agentwatch.cost.input_usd": 0.0025,
    "agentwatch.cost.output_usd": 0.0015, "agentwatch.cost.source": "genai-prices 0.2.3",
}
DOCUMENTS = [{"id": f"doc-{i}", "score": 0.9 - i / 10, "content": "..."} for i in range(5)]


class CountingExporter(SpanExporter):
    """Accepts every span and counts them by name."""

    def __init__(self) -> None:
        self.by_name: Counter[str] = Counter()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.by_name.update(s.name for s in spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv, __doc__.splitlines()[0] if __doc__ else "")
    exporter = CountingExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(DefaultProcessor(exporter))
    agentwatch.configure(tracer_provider=provider, prometheus_registry=CollectorRegistry(auto_describe=True))
    recorder = _state.recorder
    tracer = provider.get_tracer("bench")

    def off() -> None:
        _state.recorder = None

    def on() -> None:
        _state.recorder = recorder

    def flush() -> None:
        provider.force_flush(30_000)

    def spans(name: str) -> Any:
        return lambda: exporter.by_name[name]

    def floor_of(fn: Any, name: str) -> Any:
        def with_span(i: int) -> Any:
            span = tracer.start_span(name)
            try:
                return fn(i)
            finally:
                span.end()

        return with_span

    # --- track_inference ------------------------------------------------------------------------
    def chat(i: int) -> dict[str, Any]:
        return CHAT_RESULT

    def chat_with_attributes(i: int) -> dict[str, Any]:
        span = tracer.start_span("floor attributes", kind=SpanKind.CLIENT, attributes=START_ATTRIBUTES)
        try:
            return chat(i)
        finally:
            span.set_attributes(END_ATTRIBUTES)
            span.end()

    tracked_chat = agentwatch.track_inference(provider="openai", model="gpt-4o")(chat)
    rows = run_case("track_inference", [
        Variant("bare", chat),
        Variant("otel_span", floor_of(chat, "floor chat"), spans=spans("floor chat"), floor=True),
        Variant("otel_span_attrs", chat_with_attributes, spans=spans("floor attributes")),
        Variant("off", tracked_chat, enter=off, leave=on),
        Variant("track_inference", tracked_chat, spans=spans("chat gpt-4o")),
    ], args, flush)

    # --- track_vector_search --------------------------------------------------------------------
    def search(i: int) -> list[dict[str, Any]]:
        return DOCUMENTS

    tracked_search = agentwatch.track_vector_search(db="pgvector", collection="jobs", top_k=5)(search)
    rows += run_case("track_vector_search", [
        Variant("bare", search),
        Variant("otel_span", floor_of(search, "floor search"), spans=spans("floor search"), floor=True),
        Variant("track_vector_search", tracked_search, spans=spans("retrieval jobs")),
    ], args, flush)

    # --- track_tool -----------------------------------------------------------------------------
    def tool(i: int) -> int:
        return i + 1

    tracked_tool = agentwatch.track_tool(name="lookup")(tool)
    rows += run_case("track_tool", [
        Variant("bare", tool),
        Variant("otel_span", floor_of(tool, "floor tool"), spans=spans("floor tool"), floor=True),
        Variant("track_tool", tracked_tool, spans=spans("execute_tool lookup")),
    ], args, flush)

    if delivery is not None:
        _, dropped = delivery.stats()
        for row in rows:
            if row["variant"] not in ("bare", "off"):
                row["spans_dropped"] = sum(dropped.values())
    emit(rows)
    agentwatch.shutdown()
    provider.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
