"""Ended calls are completed in batches where nobody can tell but by the timing.

With every span going to agentwatch's batching processor, an ended call waits (at most a second,
or until its batch of :data:`BATCH_SIZE` fills) to be completed with others: its end attributes,
price, rollups, span end and metric records. Every flush completes the waiting calls first; a call
that failed is completed at once; anywhere else (a synchronous processor, a sink that wants records
at once, content capture) nothing waits.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from prometheus_client import CollectorRegistry

import agentwatch
from agentwatch.completion_queue import BATCH_SIZE, MAX_WAIT_S
from agentwatch.delivery import GuardedSpanProcessor

ANSWER = {"model": "gpt-4o-2024-08-06", "usage": {"prompt_tokens": 100, "completion_tokens": 10}}
CHAT = {"provider": "openai", "model": "gpt-4o", "operation": "chat", "outcome": "ok"}


class Spans(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.spans if s.name == name]


@pytest.fixture
def batched() -> Iterator[tuple[agentwatch.Telemetry, Spans, TracerProvider]]:
    exporter = Spans()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(GuardedSpanProcessor(exporter, schedule_delay_millis=10))
    tel = agentwatch.configure(tracer_provider=provider, prometheus_registry=CollectorRegistry())
    try:
        yield tel, exporter, provider
    finally:
        agentwatch.shutdown()
        provider.shutdown()


@agentwatch.track_inference(provider="openai", model="gpt-4o")
def ask() -> dict[str, Any]:
    return ANSWER


def test_an_ended_call_waits_and_every_flush_completes_it(batched: Any) -> None:
    tel, exporter, provider = batched
    ask()
    assert len(tel.recorder._queue) == 1  # ended, not yet completed
    assert provider.force_flush(5000)  # the SDK's flush reaches agentwatch's processor
    (span,) = exporter.named("chat gpt-4o")
    assert span.attributes is not None and span.attributes["agentwatch.cost.usd"] > 0
    assert len(tel.recorder._queue) == 0

    ask()
    assert tel.registry.get_sample_value("agentwatch_llm_calls_total", CHAT) == 2  # a scrape completes it too
    ask()
    tel.force_flush()
    assert len(exporter.named("chat gpt-4o")) == 3


def test_a_full_batch_is_completed_by_the_call_that_fills_it(batched: Any) -> None:
    tel, exporter, provider = batched
    for _ in range(BATCH_SIZE - 1):
        ask()
    assert len(tel.recorder._queue) == BATCH_SIZE - 1
    ask()
    assert len(tel.recorder._queue) == 0
    provider.force_flush(5000)
    spans = exporter.named("chat gpt-4o")
    assert len(spans) == BATCH_SIZE
    # each span keeps its own call's times, whenever it was completed
    ends = [s.end_time for s in spans]
    assert ends == sorted(ends) and len(set(ends)) == BATCH_SIZE
    assert all(s.end_time - s.start_time < 50_000_000 for s in spans)  # type: ignore[operator]


def test_a_completed_batch_leaves_no_record_waiting_in_the_metric_sink(batched: Any) -> None:
    """The Prometheus sink applies what a batch handed it at the batch's end, even when its own batch
    is not full: a record kept longer would reach the collector's oldest generation."""
    tel, _exporter, _provider = batched
    sink = tel.prometheus
    for _ in range(3):
        ask()
    tel.recorder.flush()  # a batch of three (what the background thread completes in an idle second)
    assert len(tel.recorder._queue) == 0 and len(sink._pending) == 0
    for _ in range(BATCH_SIZE + 2):
        ask()
    assert len(tel.recorder._queue) == 2 and len(sink._pending) == 0
    assert tel.registry.get_sample_value("agentwatch_llm_calls_total", CHAT) == BATCH_SIZE + 5


def test_an_idle_process_still_sends_its_last_spans(batched: Any) -> None:
    _tel, exporter, _provider = batched
    ask()
    deadline = time.monotonic() + MAX_WAIT_S + 5
    while not exporter.named("chat gpt-4o") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(exporter.named("chat gpt-4o")) == 1  # the background thread completed it, no flush


def test_a_failed_stage_is_completed_at_once_with_its_children_rolled_up(batched: Any) -> None:
    tel, exporter, provider = batched
    with pytest.raises(KeyError), agentwatch.stage("draft", graph="g"):
        ask()
        ask()
        raise KeyError("boom")
    assert len(tel.recorder._queue) == 0  # the failure completed the waiting children first
    provider.force_flush(5000)
    (stage,) = exporter.named("draft")
    assert stage.attributes is not None
    assert stage.attributes["agentwatch.rollup.llm_calls"] == 2
    assert stage.attributes["agentwatch.rollup.input_tokens"] == 200
    assert stage.attributes["error.type"] == "KeyError"


def test_nothing_waits_with_a_synchronous_processor_or_content_capture() -> None:
    exporter = Spans()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(GuardedSpanProcessor(Spans()))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    agentwatch.configure(tracer_provider=provider, prometheus_registry=CollectorRegistry())
    try:
        ask()
        assert len(exporter.named("chat gpt-4o")) == 1  # exported at the call's end
    finally:
        agentwatch.shutdown()
        provider.shutdown()

    exporter = Spans()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(GuardedSpanProcessor(exporter))
    tel = agentwatch.configure(tracer_provider=provider, prometheus_registry=CollectorRegistry(),
                               capture_content=True)
    try:
        ask()
        assert len(tel.recorder._queue) == 0
    finally:
        agentwatch.shutdown()
        provider.shutdown()
    assert len(exporter.named("chat gpt-4o")) == 1


def test_kept_records_are_there_at_the_call_end() -> None:
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(GuardedSpanProcessor(Spans()))
    tel = agentwatch.configure(tracer_provider=provider, prometheus_registry=CollectorRegistry(),
                               keep_records=True)
    try:
        ask()
        assert tel.memory is not None and len(tel.memory.completed) == 1
    finally:
        agentwatch.shutdown()
        provider.shutdown()


def test_shutdown_completes_what_waits(batched: Any) -> None:
    _tel, exporter, provider = batched
    ask()
    ask()
    agentwatch.shutdown()  # agentwatch does not own this provider: the calls still reach it
    provider.force_flush(5000)
    assert len(exporter.named("chat gpt-4o")) == 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_starts_with_an_empty_queue(batched: Any) -> None:
    tel, exporter, provider = batched
    ask()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's waiting call is the parent's to complete
        try:
            n = len(tel.recorder._queue)
            ask()
            n2 = len(tel.recorder._queue)
            os.write(write, f"{n} {n2}".encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    assert os.read(read, 100).decode() == "0 1"
    os.close(read)
    provider.force_flush(5000)
    assert len(exporter.named("chat gpt-4o")) == 1  # the parent's own call, once
