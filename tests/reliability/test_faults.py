"""Fault injection: whatever breaks inside agentwatch, the user's call returns exactly what it would
without agentwatch, the failure is counted in agentwatch_internal_errors_total, and it is logged
once per kind."""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from prometheus_client import CollectorRegistry

import agentwatch
from agentwatch import errors
from agentwatch.delivery import GuardedSpanProcessor
from agentwatch.records import Completed
from agentwatch.testing import Captured, capture

from .conftest import LogLines

ENCODER_LOGGER = "opentelemetry.exporter.otlp.proto.common._internal"


def chat(prompt: int, completion: int, model: str = "gpt-4o-2024-08-06") -> dict[str, Any]:
    return {"model": model, "choices": [{"finish_reason": "stop", "message": {"content": "ok"}}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion}}


def internal_errors(tel: Captured, component: str) -> float:
    return tel.sample("agentwatch_internal_errors_total", component=component) or 0.0


def assert_exportable(spans: Sequence[ReadableSpan]) -> None:
    """The OTLP encoder takes every span whole: no attribute dropped, no batch rejected."""
    seen: list[logging.LogRecord] = []

    class Grab(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    handler = Grab()
    logger = logging.getLogger(ENCODER_LOGGER)
    logger.addHandler(handler)
    try:
        data = encode_spans(spans).SerializeToString()
    finally:
        logger.removeHandler(handler)
    assert data
    assert [r.getMessage() for r in seen] == []


def lines_about(logs: LogLines, component: str) -> list[str]:
    return [r.getMessage() for r in logs.records if f"agentwatch {component}" in r.getMessage()]


# --- a sink that raises ---------------------------------------------------------------------------
class BoomSink:
    def on_completed(self, completed: Completed) -> None:
        raise RuntimeError("sink is broken")


def test_raising_sink_changes_nothing_for_the_app(tel: Captured, agentwatch_logs: LogLines) -> None:
    recorder = tel.telemetry.recorder
    recorder.sinks = (BoomSink(), *recorder.sinks)  # first, so the real sinks run after it
    answer = chat(120, 30)

    @agentwatch.track_inference(provider="openai", model="gpt-4o")
    def ask(i: int) -> dict[str, Any]:
        return answer

    results = [ask(i) for i in range(50)]
    assert all(r is answer for r in results)
    assert len(tel.spans_named("chat gpt-4o")) == 50
    labels = {"provider": "openai", "model": "gpt-4o", "operation": "chat"}
    # The Prometheus sink behind the broken one still counted every call.
    assert tel.sample("agentwatch_llm_calls_total", **labels, outcome="ok") == 50
    assert tel.sample("agentwatch_llm_tokens_total", **labels, type="input") == 50 * 120
    assert internal_errors(tel, "sink.BoomSink") == 50
    assert len(lines_about(agentwatch_logs, "sink.BoomSink")) == 1


# --- exporters that raise, fail or hang -----------------------------------------------------------
class RaisingExporter(SpanExporter):
    def __init__(self) -> None:
        self.calls = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.calls += 1
        raise ConnectionError("backend exploded")

    def shutdown(self) -> None:
        return None


class FailingExporter(SpanExporter):
    def __init__(self) -> None:
        self.calls = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.calls += 1
        return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        return None


class HangingExporter(SpanExporter):
    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.exported = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.entered.set()
        self.release.wait(60)
        self.exported += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.release.set()


@pytest.fixture
def guarded() -> Iterator[Any]:
    """configure() on a provider whose only processor is a GuardedSpanProcessor around ``exporter``."""
    made: list[tuple[TracerProvider, GuardedSpanProcessor]] = []

    def make(exporter: SpanExporter, **kwargs: Any) -> tuple[Captured, GuardedSpanProcessor]:
        provider = TracerProvider(shutdown_on_exit=False)
        processor = GuardedSpanProcessor(exporter, **kwargs)
        provider.add_span_processor(processor)
        tel = agentwatch.configure(tracer_provider=provider,
                                   prometheus_registry=CollectorRegistry(auto_describe=True))
        made.append((provider, processor))
        return Captured(tel, None), processor  # type: ignore[arg-type]

    yield make
    agentwatch.shutdown()
    for provider, _ in made:
        provider.shutdown()


def test_raising_exporter_is_counted_once_logged_and_spans_counted_dropped(
    guarded: Any, agentwatch_logs: LogLines
) -> None:
    exporter = RaisingExporter()
    tel, processor = guarded(exporter, max_export_batch_size=10, schedule_delay_millis=10_000)

    @agentwatch.track_tool(name="lookup")
    def lookup(x: int) -> int:
        return x * 2

    assert [lookup(i) for i in range(35)] == [i * 2 for i in range(35)]
    assert processor.force_flush(5000)
    assert exporter.calls == 4  # 10 + 10 + 10 + 5
    assert (processor.exported, processor.dropped) == (0, {"export_failed": 35})
    assert tel.sample("agentwatch_spans_dropped_total", reason="export_failed") == 35
    assert internal_errors(tel, "exporter") == 4
    assert len(lines_about(agentwatch_logs, "exporter")) == 1


def test_failing_exporter_counts_dropped_spans(guarded: Any) -> None:
    exporter = FailingExporter()
    tel, processor = guarded(exporter, max_export_batch_size=8, schedule_delay_millis=10_000)

    @agentwatch.stage("step")
    def step(x: int) -> int:
        return x + 1

    assert [step(i) for i in range(20)] == list(range(1, 21))
    assert processor.force_flush(5000)
    assert exporter.calls == 3
    assert tel.sample("agentwatch_spans_dropped_total", reason="export_failed") == 20
    assert tel.sample("agentwatch_spans_exported_total") in (None, 0.0)
    assert tel.sample("agentwatch_stage_runs_total", graph="", stage="step", outcome="ok") == 20


def test_hanging_exporter_bounds_latency_memory_flush_and_shutdown(guarded: Any) -> None:
    exporter = HangingExporter()
    tel, processor = guarded(exporter, max_queue_size=64, max_export_batch_size=16,
                             schedule_delay_millis=1, shutdown_timeout_millis=300)

    @agentwatch.track_inference(provider="openai", model="gpt-4o")
    def ask(i: int) -> dict[str, Any]:
        return chat(10, 5)

    ask(0)
    assert exporter.entered.wait(5)  # the export thread is now stuck in the backend
    durations = []
    for i in range(2000):
        t0 = time.perf_counter()
        ask(i)
        durations.append(time.perf_counter() - t0)
    durations.sort()
    tel.telemetry.recorder.flush()  # the last calls, still waiting for their batch, end their spans now
    # Bounded: the caller never waits for the stuck export (which would take seconds): the median
    # call stays sub-millisecond and even the slowest 1% (GC, a busy CI machine) stay far below it.
    assert durations[len(durations) // 2] < 0.001
    assert durations[int(len(durations) * 0.99)] < 0.02
    dropped = processor.dropped
    # Memory bounded: at most the queue (64) plus the stuck batch wait; every other span is counted.
    assert processor.pending <= 64
    assert dropped["queue_full"] == 2001 - processor.pending - 1  # 1 span taken by the stuck export
    assert tel.sample("agentwatch_spans_dropped_total", reason="queue_full") == dropped["queue_full"]

    t0 = time.monotonic()
    assert processor.force_flush(200) is False
    assert time.monotonic() - t0 < 0.5
    pending = processor.pending
    t0 = time.monotonic()
    agentwatch.shutdown()
    tel.telemetry.tracer_provider.shutdown()  # type: ignore[attr-defined]
    assert time.monotonic() - t0 < 1.0
    assert processor.dropped["shutdown"] == pending
    exporter.release.set()


# --- a price book that raises ---------------------------------------------------------------------
def test_raising_price_book_leaves_the_call_unpriced(tel: Captured, agentwatch_logs: LogLines) -> None:
    def broken_price(*args: Any) -> None:
        raise ArithmeticError("price data corrupt")

    tel.telemetry.recorder.price = broken_price
    answer = chat(1000, 100)

    @agentwatch.track_inference(provider="openai", model="gpt-4o")
    def ask() -> dict[str, Any]:
        return answer

    assert [ask() for _ in range(5)] == [answer] * 5
    spans = tel.spans_named("chat gpt-4o")
    assert len(spans) == 5
    a = spans[0].attributes or {}
    assert a["gen_ai.usage.input_tokens"] == 1000
    assert "agentwatch.cost.usd" not in a
    assert tel.sample("agentwatch_unpriced_calls_total", provider="openai", model="gpt-4o") == 5
    assert internal_errors(tel, "pricing") == 5
    assert len(lines_about(agentwatch_logs, "pricing")) == 1


def test_price_book_whose_lookup_raises_is_caught(tel: Captured) -> None:
    book = tel.telemetry.price_book

    def broken_lookup(*args: Any) -> Any:
        raise KeyError("index damaged")

    book._lookup = broken_lookup  # the price data misbehaving, below the book's own guard

    @agentwatch.track_inference(provider="openai", model="model-never-seen-x1")
    def ask() -> dict[str, Any]:
        return chat(10, 10, model="model-never-seen-x1")

    assert ask()["usage"]["prompt_tokens"] == 10
    span = tel.span("chat model-never-seen-x1")
    assert (span.attributes or {})["gen_ai.usage.output_tokens"] == 10
    assert internal_errors(tel, "pricing") >= 1


# --- a tokenizer that raises ----------------------------------------------------------------------
def test_raising_tokenizer_inside_a_tracked_call(tel: Captured, monkeypatch: pytest.MonkeyPatch) -> None:
    from agentwatch import tokens

    class BrokenEncoder:
        def encode_ordinary(self, text: str) -> list[int]:
            raise MemoryError("tokenizer blew up")

    monkeypatch.setattr(tokens, "get_encoding", lambda name: BrokenEncoder())

    @agentwatch.track_inference(provider="openai", model="gpt-4o")
    def ask() -> str:
        call = agentwatch.current_call()
        try:
            usage = tokens.estimate_usage("hello there", "general kenobi", "gpt-4o")
        except MemoryError:
            usage = None
        call.set_usage(usage)
        return "answer"

    assert ask() == "answer"
    assert (tel.span("chat gpt-4o").attributes or {})["agentwatch.usage.reported"] is False


# --- hostile values through the decorators --------------------------------------------------------
def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


HOSTILE_RESULTS: list[Any] = [
    {"usage": {"prompt_tokens": "ten", "completion_tokens": 3}},
    {"usage": {"prompt_tokens": float("nan"), "completion_tokens": 3}},
    {"usage": {"prompt_tokens": -5, "completion_tokens": 3}},
    {"usage": {"prompt_tokens": 10**30, "completion_tokens": 3}},
    {"usage": {"prompt_tokens": float("inf"), "completion_tokens": 3}},
    {"usage": [1, 2, 3]},
    {"usage": None, "model": b"\xff\xfe", "id": 12},
    {"model": "gpt-4o\udcff", "id": "x\ud800y", "choices": [{"finish_reason": "st\udc80op"}],
     "usage": {"prompt_tokens": 1, "completion_tokens": 1}},
    {"model": ["not", "a", "string"], "choices": "nope", "usage": {"input_tokens": True}},
    nested(5000),
    "x" * 5_000_000,
    b"\xff\xfe\x00",
    float("nan"),
    object(),
]


@pytest.mark.parametrize("result", HOSTILE_RESULTS, ids=lambda r: type(r).__name__)
def test_hostile_results_pass_through_unchanged(tel: Captured, result: Any) -> None:
    @agentwatch.track_inference(provider="openai", model="gpt-4o")
    def ask() -> Any:
        return result

    assert ask() is result
    [span] = tel.spans
    assert span.name == "chat gpt-4o"
    assert_exportable(tel.spans)
    a = span.attributes or {}
    if "gen_ai.usage.input_tokens" in a:
        assert 0 <= int(a["gen_ai.usage.input_tokens"]) < 2**63  # type: ignore[call-overload]


def test_hostile_result_in_streams(tel: Captured) -> None:
    chunks: list[Any] = [nested(3000), {"usage": {"prompt_tokens": -1}}, "\udcff", b"\xff", None,
                         {"choices": [{"finish_reason": 5}]}, {"usage": {"prompt_tokens": 7, "completion_tokens": 2}}]

    @agentwatch.track_inference(provider="openai", model="gpt-4o")
    def stream() -> Iterator[Any]:
        yield from chunks

    @agentwatch.track_inference(provider="openai", model="gpt-4o-mini")
    async def astream() -> Any:
        for c in chunks:
            yield c

    async def consume() -> list[Any]:
        return [c async for c in astream()]

    assert list(stream()) == chunks
    assert asyncio.run(consume()) == chunks
    assert len(tel.spans) == 2
    assert_exportable(tel.spans)
    for span in tel.spans:
        assert (span.attributes or {})["gen_ai.usage.input_tokens"] == 7


def test_hostile_content_with_capture_on(monkeypatch: pytest.MonkeyPatch) -> None:
    with capture(capture_content=True, content_max_chars=1000) as tel:
        @agentwatch.track_tool(name="t\udc80ool")
        def tool(arg: Any) -> Any:
            return arg

        @agentwatch.track_vector_search(db="pgvector", collection="docs\udcff", query_arg="q")
        def search(q: Any) -> list[Any]:
            return [{"id": "\udc80", "score": float("nan"), "content": q}, {"id": 1, "score": "high"}]

        for value in (nested(10_000), "y" * 3_000_000, b"\xff\xfe", "\udcff" * 10, {"k": nested(2000)},
                      float("nan"), [float("inf")]):
            assert tool(value) is value
            assert search(value)[0]["content"] is value
        spans = tel.spans
        assert len(spans) == 14
        assert_exportable(spans)
        for span in spans:
            for key, value in (span.attributes or {}).items():
                if isinstance(value, str) and key != "gen_ai.retrieval.documents":
                    assert len(value) <= 1000 + len("…[truncated]"), key


def test_exception_with_hostile_message_still_reraised(tel: Captured) -> None:
    class Nasty(Exception):
        def __str__(self) -> str:
            raise RuntimeError("str() of this exception fails")

    @agentwatch.stage("fragile")
    def fragile(kind: int) -> None:
        if kind == 0:
            raise Nasty()
        raise ValueError("bad \udcff byte and key sk-abcdefghijklmnopqrstuvwx")

    with pytest.raises(Nasty):
        fragile(0)
    with pytest.raises(ValueError, match="bad"):
        fragile(1)
    spans = tel.spans_named("fragile")
    assert len(spans) == 2
    assert_exportable(spans)
    assert "sk-abcdefghijklmnopqrstuvwx" not in (spans[1].status.description or "")


# --- hostile values through the Call setters ------------------------------------------------------
SETTER_CALLS: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("record_usage", ("ten",), {}),
    ("record_usage", (float("nan"), 1), {}),
    ("record_usage", (-1, 1), {}),
    ("record_usage", (10**40, 1), {}),
    ("record_usage", (float("inf"),), {}),
    ("record_usage", (), {"input_tokens": [1], "output_tokens": {}}),
    ("set_usage", ("usage",), {}),
    ("set_response_model", (b"\xff",), {}),
    ("set_response_model", ("m\udcff" * 10_000,), {}),
    ("set_response_id", (12,), {}),
    ("set_finish_reasons", ("stop",), {}),
    ("set_finish_reasons", (5,), {}),
    ("set_finish_reasons", ([None, "\udc80", 3],), {}),
    ("set_attribute", ("k", {"a": 1}), {}),
    ("set_attribute", ("k", [1, "a"]), {}),
    ("set_attribute", ("k", 10**30), {}),
    ("set_attribute", ("k", "\udcff"), {}),
    ("set_attribute", ("k", b"\xff"), {}),
    ("set_attribute", ("k", nested(1000)), {}),
    ("set_attribute", (5, "v"), {}),
    ("set_attribute", ("\udcffkey", float("nan")), {}),
    ("mark_first_chunk", ("soon",), {}),
    ("set_documents", ([("a", "high"), (None, float("nan"))],), {}),
    ("set_documents", (5,), {}),
    ("set_documents", (["abc"],), {}),
    ("set_returned", ("many",), {}),
    ("set_returned", (-3,), {}),
    ("set_outcome", ("weird-outcome-123",), {}),
    ("set_attempts", (float("nan"),), {}),
    ("set_tool_calls", (None,), {}),
    ("set_tool_calls", ("search",), {}),
    ("add_route", (nested(100),), {}),
    ("set_output", (nested(10_000),), {}),
]


@pytest.mark.parametrize(("method", "args", "kwargs"), SETTER_CALLS,
                         ids=[f"{m}-{i}" for i, (m, _, _) in enumerate(SETTER_CALLS)])
def test_hostile_setter_values_never_raise(
    tel: Captured, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    @agentwatch.track_inference(provider="openai", model="gpt-4o")
    def ask() -> str:
        getattr(agentwatch.current_call(), method)(*args, **kwargs)
        return "done"

    @agentwatch.stage("outer")
    def outer() -> str:
        getattr(agentwatch.current_call(), method)(*args, **kwargs)
        return ask()

    assert outer() == "done"
    assert {s.name for s in tel.spans} == {"chat gpt-4o", "outer"}
    assert_exportable(tel.spans)
    # A hostile outcome never becomes a metric label.
    outcomes = {s.labels.get("outcome") for m in tel.registry.collect() for s in m.samples
                if "outcome" in s.labels}
    assert outcomes <= {"ok", "error", "interrupted"}


def test_numbers_out_of_range_are_refused_not_clamped_into_costs(tel: Captured) -> None:
    @agentwatch.track_inference(provider="openai", model="gpt-4o")
    def ask() -> str:
        agentwatch.current_call().record_usage(input_tokens=10**40, output_tokens=5)
        return "x"

    ask()
    a = tel.span("chat gpt-4o").attributes or {}
    assert "agentwatch.cost.usd" not in a
    assert a["agentwatch.usage.reported"] is False
    assert internal_errors(tel, "usage") == 1
    assert not any(math.isinf(float(v)) for v in a.values() if isinstance(v, float))


# --- malformed lifecycles -------------------------------------------------------------------------
def test_malformed_lifecycles(tel: Captured) -> None:
    recorder = tel.telemetry.recorder
    from agentwatch.call import NOOP_CALL
    from agentwatch.records import Inference, Stage

    call = recorder.start(Inference(provider="openai", model="gpt-4o"))
    recorder.finish(call)
    recorder.finish(call)  # end twice
    recorder.fail(call, RuntimeError("after the end"))  # fail after the end
    recorder.finish(NOOP_CALL)  # end of something never started
    recorder.fail(NOOP_CALL, RuntimeError("never started"))
    s = agentwatch.stage("lonely")
    s.__exit__(None, None, None)  # exit without enter
    asyncio.run(s.__aexit__(None, None, None))
    first = recorder.start(Stage(name="twice"))
    second = recorder.start(Stage(name="twice"))  # the same start twice: two independent calls
    recorder.finish(second)
    recorder.finish(first)
    assert sorted(sp.name for sp in tel.spans) == ["chat gpt-4o", "twice", "twice"]
    assert tel.sample("agentwatch_llm_calls_total", provider="openai", model="gpt-4o", operation="chat",
                      outcome="ok") == 1


def test_error_reporting_itself_failing_is_contained(tel: Captured) -> None:
    def bad_listener(component: str) -> None:
        raise RuntimeError("listener broken")

    errors.add_listener(bad_listener)
    try:
        tel.telemetry.recorder.sinks = (BoomSink(), *tel.telemetry.recorder.sinks)

        @agentwatch.track_tool(name="t")
        def t() -> int:
            return 7

        assert t() == 7
    finally:
        errors.remove_listener(bad_listener)
