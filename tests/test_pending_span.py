"""Pending spans end as exactly the span the SDK would have exported, and are used only where
nothing could tell them apart.

Each case starts one span through :func:`agentwatch.span_attributes.start_span` (a pending span
where the tracer allows it) and the same span through the SDK's ``Tracer.start_span``, does the
same to both, and compares what the exporter received, field by field (ids aside).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, SpanProcessor, TracerProvider, sampling
from opentelemetry.sdk.trace import _Span as SdkSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState

import agentwatch
from agentwatch.pending_span import PendingSpan
from agentwatch.span_attributes import set_clean, start_span
from agentwatch.testing import Captured

from .conftest import provider_with

START: dict[str, Any] = {
    "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
    "gen_ai.request.stop_sequences": ("\n",),
}
END: dict[str, Any] = {"gen_ai.usage.input_tokens": 1200, "agentwatch.cost.usd": 0.004}


def exported(span: ReadableSpan) -> dict[str, Any]:
    """Everything an exporter reads from a span, but its own random span id."""
    ctx = span.context
    assert ctx is not None
    return {
        "name": span.name, "kind": span.kind, "parent": span.parent, "trace_flags": ctx.trace_flags,
        "trace_state": ctx.trace_state, "is_remote": ctx.is_remote,
        "attributes": dict(span.attributes or {}), "dropped_attributes": span.dropped_attributes,
        "events": [(e.name, dict(e.attributes or {}), e.timestamp) for e in span.events],
        "dropped_events": span.dropped_events,
        "links": [(link.context, dict(link.attributes or {})) for link in span.links],
        "dropped_links": span.dropped_links,
        "status": (span.status.status_code, span.status.description),
        "start_time": span.start_time, "end_time": span.end_time,
        "resource": span.resource.attributes, "scope": span.instrumentation_scope,
    }


def both(
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    do: Callable[[trace.Span], None] = lambda span: None,
    *,
    context: Context | None = None,
    links: Sequence[Link] | None = None,
    start: dict[str, Any] = START,
) -> tuple[dict[str, Any], dict[str, Any], trace.Span]:
    """The same span, started by agentwatch and by the SDK, as the exporter received each."""
    tracer = provider.get_tracer("t", "1.0")
    ours = start_span(tracer, "chat gpt-4o", context, SpanKind.CLIENT, start, links, 1_000)
    sdk = tracer.start_span("chat gpt-4o", context=context, kind=SpanKind.CLIENT, attributes=start,
                            links=links, start_time=1_000)
    for span in (ours, sdk):
        do(span)
        span.end(end_time=2_000)
    got = exporter.get_finished_spans()
    assert len(got) == 2, got
    first, second = (exported(s) for s in got)
    return first, second, ours


def test_a_root_span_is_the_sdks_span() -> None:
    provider, exporter = provider_with()
    ours, sdk, span = both(provider, exporter)
    assert type(span) is PendingSpan
    assert ours == sdk
    assert ours["parent"] is None and ours["trace_flags"].sampled and ours["attributes"] == START
    # the random-trace-id flag of newer SDKs, set by the same rule
    assert ours["trace_flags"] == sdk["trace_flags"]


@pytest.mark.parametrize("remote", [False, True])
def test_a_child_keeps_its_parents_trace_flags_and_state(remote: bool) -> None:
    provider, exporter = provider_with()
    state = TraceState([("vendor", "v1")])
    parent = SpanContext(0xABC, 0xDEF, is_remote=remote, trace_flags=TraceFlags(TraceFlags.SAMPLED),
                         trace_state=state)
    context = trace.set_span_in_context(NonRecordingSpan(parent))
    ours, sdk, span = both(provider, exporter, context=context)
    assert type(span) is PendingSpan
    assert ours == sdk
    assert ours["parent"] == parent and ours["trace_state"] == state
    assert span.get_span_context().trace_id == 0xABC


def test_what_the_span_api_does_on_a_running_span_arrives_the_same() -> None:
    provider, exporter = provider_with()

    def do(span: trace.Span) -> None:
        span.set_attribute("user.list", [1, 2])  # a list, kept as a tuple by the SDK's checks
        span.set_attributes({"user.text": "x", "user.number": 2.5})
        span.add_event("thinking", {"step": 1}, timestamp=1_500)
        span.add_link(SpanContext(0x1, 0x2, is_remote=False), {"why": "retry"})
        span.update_name("renamed")
        span.set_status(StatusCode.ERROR, "went wrong")
        try:
            raise ValueError("boom")
        except ValueError as exc:
            span.record_exception(exc, {"extra": True}, timestamp=1_600)
        set_clean(span, END)

    ours, sdk, _ = both(provider, exporter, do)
    stack_ours = ours["events"][1][1].pop("exception.stacktrace")
    stack_sdk = sdk["events"][1][1].pop("exception.stacktrace")
    assert "ValueError: boom" in stack_ours and "ValueError: boom" in stack_sdk
    assert ours == sdk
    assert ours["name"] == "renamed" and ours["status"] == (StatusCode.ERROR, "went wrong")
    assert ours["attributes"]["user.list"] == (1, 2) and ours["attributes"]["user.number"] == 2.5
    assert ours["events"][1][1]["exception.type"] == "ValueError"


def test_status_rules_are_the_sdks() -> None:
    provider, exporter = provider_with()

    def do(span: trace.Span) -> None:
        span.set_status(Status(StatusCode.UNSET))  # ignored
        span.set_status(Status(StatusCode.OK), "ignored description")
        span.set_status(StatusCode.ERROR, "too late: OK is final")

    ours, sdk, _ = both(provider, exporter, do)
    assert ours == sdk and ours["status"] == (StatusCode.OK, None)


def test_an_ended_span_takes_nothing_more(caplog: pytest.LogCaptureFixture) -> None:
    provider, exporter = provider_with()
    tracer = provider.get_tracer("t")
    span = start_span(tracer, "s", None, SpanKind.INTERNAL, START, None, 1_000)
    assert type(span) is PendingSpan and span.is_recording()
    span.end(2_000)
    assert not span.is_recording()
    with caplog.at_level(logging.WARNING):
        span.set_attribute("late", 1)
        span.add_event("late")
        span.set_status(StatusCode.ERROR)
        span.end(3_000)
    set_clean(span, {"late.clean": 1})  # agentwatch's own late attributes: dropped quietly
    (data,) = exporter.get_finished_spans()
    assert dict(data.attributes or {}) == START and not data.events and data.end_time == 2_000
    assert data.status.status_code is StatusCode.UNSET
    assert sum("ended span" in r.getMessage() for r in caplog.records) == 4


def test_span_limits_drop_what_the_sdk_drops() -> None:
    limits = SpanLimits(max_span_attributes=5, max_events=1, max_links=1, max_event_attributes=1)
    provider, exporter = provider_with(limits=limits)
    links = [Link(SpanContext(0x1, 0x2, is_remote=False)), Link(SpanContext(0x1, 0x3, is_remote=False))]

    def do(span: trace.Span) -> None:
        set_clean(span, END)
        span.set_attribute("one.more", 1)
        span.add_event("a", timestamp=1_100)
        span.add_event("b", {"x": 1, "y": 2}, timestamp=1_200)

    ours, sdk, _ = both(provider, exporter, do, links=links)
    assert ours == sdk
    assert ours["dropped_attributes"] == 2 and len(ours["attributes"]) == 5
    assert ours["dropped_events"] == 1 and ours["dropped_links"] == 1
    assert ours["events"] == [("b", {"y": 2}, 1_200)]  # the newest event, its newest attribute


def test_attributes_past_the_limit_after_a_plain_store_drop_what_the_sdk_drops() -> None:
    """The recorder's attributes go into a plain dict while they fit; the first write past the
    limit, or by user code, moves them into the SDK's bounded store, which drops the oldest."""
    provider, exporter = provider_with(limits=SpanLimits(max_span_attributes=7))
    stores: list[type] = []

    def do(span: trace.Span) -> None:
        set_clean(span, END)  # 6 attributes: fits
        stores.append(type(getattr(span, "_attributes", None)))
        set_clean(span, {"late.one": 1, "late.two": 2})  # 8: one dropped
        span.set_attribute("user.one", "u")  # user code: one more dropped

    ours, sdk, _ = both(provider, exporter, do)
    assert ours == sdk
    assert stores[0] is dict  # (the pending span, before the limit)
    assert ours["dropped_attributes"] == 2 and len(ours["attributes"]) == 7
    assert "gen_ai.operation.name" not in ours["attributes"] and ours["attributes"]["user.one"] == "u"


def test_start_attributes_past_the_limit_are_dropped_at_the_end_as_the_sdk_drops_them() -> None:
    provider, exporter = provider_with(limits=SpanLimits(max_span_attributes=2))
    ours, sdk, _ = both(provider, exporter)  # nothing set after the start
    assert ours == sdk
    assert ours["dropped_attributes"] == 2 and len(ours["attributes"]) == 2


def test_recorder_attributes_within_the_limit_end_in_a_plain_store() -> None:
    provider, exporter = provider_with()
    ours, sdk, span = both(provider, exporter, lambda span: set_clean(span, END))
    assert ours == sdk and ours["dropped_attributes"] == 0
    assert ours["attributes"] == {**START, **END}
    (mine, _) = exporter.get_finished_spans()
    assert type(getattr(mine, "_attributes", None)) is dict  # no bounded store, no lock, per span
    assert dict(span.attributes) == {**START, **END}


def test_workflow_links_arrive_as_the_sdk_keeps_them() -> None:
    provider, exporter = provider_with()
    links = [Link(SpanContext(0x1, 0x2, is_remote=False)), Link(SpanContext(0, 0, is_remote=False))]
    ours, sdk, _ = both(provider, exporter, links=links)
    assert ours == sdk and len(ours["links"]) == 1  # the invalid link is left out by both


def test_the_current_span_in_tracked_code_is_pending_and_parents_sdk_spans(tel: Captured) -> None:
    tracer = tel.telemetry.tracer_provider.get_tracer("user")

    @agentwatch.track_tool(name="lookup")
    def lookup() -> None:
        current = trace.get_current_span()
        assert type(current) is PendingSpan
        current.set_attribute("user.note", "kept")
        with tracer.start_as_current_span("user work") as inner:
            assert type(inner) is SdkSpan  # the user's own tracer call: the SDK's span

    lookup()
    tool = tel.span("execute_tool lookup")
    inner_data = tel.span("user work")
    assert inner_data.parent is not None and inner_data.parent.span_id == tool.context.span_id
    assert (tool.attributes or {})["user.note"] == "kept"


class SeesStart(SpanProcessor):
    def __init__(self) -> None:
        self.started = 0

    def on_start(self, span: Any, parent_context: Context | None = None) -> None:
        self.started += 1


class BeforeEnd(SpanProcessor):
    def __init__(self) -> None:
        self.ending = 0

    def _on_ending(self, span: Any) -> None:
        self.ending += 1


@pytest.mark.parametrize("case", ["on_start", "_on_ending", "sampler", "length_limit", "dropped"])
def test_anything_that_could_tell_gets_the_sdks_span(case: str) -> None:
    processors: list[SpanProcessor] = []
    sampler: sampling.Sampler | None = None
    limits: SpanLimits | None = None
    if case == "on_start":
        processors.append(SeesStart())
    elif case == "_on_ending":
        processors.append(BeforeEnd())
    elif case == "sampler":
        sampler = sampling.TraceIdRatioBased(1.0)
    elif case == "length_limit":
        limits = SpanLimits(max_span_attribute_length=3)
    else:
        sampler = sampling.ALWAYS_OFF
    provider, exporter = provider_with(*processors, limits=limits, sampler=sampler)
    span = start_span(provider.get_tracer("t"), "s", None, SpanKind.INTERNAL, START, None, 1_000)
    assert type(span) is (NonRecordingSpan if case == "dropped" else SdkSpan)
    span.end()
    if case == "on_start":
        assert processors[0].started == 1  # type: ignore[attr-defined]
    if case == "_on_ending" and hasattr(SpanProcessor, "_on_ending"):
        assert processors[0].ending == 1  # type: ignore[attr-defined]
    assert len(exporter.get_finished_spans()) == (0 if case == "dropped" else 1)


def test_an_unsampled_parent_under_the_default_sampler_starts_no_recording_span() -> None:
    provider, exporter = provider_with()
    parent = SpanContext(0xABC, 0xDEF, is_remote=False, trace_flags=TraceFlags(TraceFlags.DEFAULT))
    context = trace.set_span_in_context(NonRecordingSpan(parent))
    span = start_span(provider.get_tracer("t"), "s", context, SpanKind.INTERNAL, START, None, 1_000)
    assert not span.is_recording()
    span.end()
    assert not exporter.get_finished_spans()


def test_always_on_samples_under_an_unsampled_parent_as_the_sdk_does() -> None:
    provider, exporter = provider_with(sampler=sampling.ALWAYS_ON)
    parent = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(TraceFlags.DEFAULT))
    ours, sdk, span = both(provider, exporter, context=trace.set_span_in_context(NonRecordingSpan(parent)))
    assert type(span) is PendingSpan and ours == sdk and ours["trace_flags"].sampled


def test_spans_changed_from_other_threads_while_they_end_all_arrive_whole() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=10_000))
    tracer = provider.get_tracer("t")
    spans = [start_span(tracer, f"s{i}", None, SpanKind.INTERNAL, START, None, 1_000) for i in range(2_000)]
    assert all(type(s) is PendingSpan for s in spans)

    def writer() -> None:
        for span in spans:
            span.set_attribute("from.thread", 1)
            span.add_event("e")

    thread = threading.Thread(target=writer)
    thread.start()
    for span in spans:
        set_clean(span, END)
        span.end()
    thread.join()
    provider.force_flush()
    got = exporter.get_finished_spans()
    assert len(got) == 2_000
    for data in got:
        attributes = dict(data.attributes or {})
        assert {**START, **END}.items() <= attributes.items()
        assert set(attributes) - set(START) - set(END) <= {"from.thread"}
    provider.shutdown()


def test_a_context_attached_pending_span_is_what_get_current_span_returns() -> None:
    provider, _ = provider_with()
    span = start_span(provider.get_tracer("t"), "s", None, SpanKind.INTERNAL, START, None, 1_000)
    token = otel_context.attach(trace.set_span_in_context(span))
    try:
        assert trace.get_current_span() is span
        assert span.start_time == 1_000 and span.name == "s" and dict(span.attributes) == START
    finally:
        otel_context.detach(token)
        span.end()
