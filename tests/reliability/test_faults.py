"""Fault injection: whatever breaks inside agentwatch, the user's call returns exactly what it would
without agentwatch, the failure is counted in agentwatch_internal_errors_total, and it is logged
once per kind."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from prometheus_client import CollectorRegistry

import agentwatch
from agentwatch import errors
from agentwatch.delivery import GuardedSpanProcessor
from agentwatch.records import Completed
from agentwatch.testing import Captured

from .conftest import LogLines, internal_errors


def chat(prompt: int, completion: int, model: str = "gpt-4o-2024-08-06") -> dict[str, Any]:
    return {"model": model, "choices": [{"finish_reason": "stop", "message": {"content": "ok"}}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion}}


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
