"""The hot-path shortcuts give exactly what the public APIs they stand in for give.

agentwatch sets its own, already clean, span attributes without the SDK checking them a second
time, starts spans with their attributes set just after the start when nothing can tell, and
updates Prometheus value holders directly. Each shortcut is compared here with the public path,
and each fallback (limits in force, samplers or processors that read attributes at start) is shown
to be taken.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Sequence
from typing import Any

import pytest
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanLimits, SpanProcessor, TracerProvider, sampling
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry

import agentwatch
from agentwatch.records import Completed, Inference, Rollup, Stage, Workflow
from agentwatch.sinks.prometheus import PrometheusSink
from agentwatch.span_attributes import _late_start_attributes_ok, set_clean, start_span
from agentwatch.testing import Captured
from agentwatch.usage import Usage

from .conftest import provider_with

END_ATTRIBUTES: dict[str, Any] = {
    "gen_ai.response.model": "gpt-4o-2024-08-06",
    "gen_ai.response.finish_reasons": ("stop", "length"),
    "gen_ai.usage.input_tokens": 1200,
    "agentwatch.usage.estimated": False,
    "agentwatch.cost.usd": 0.004,
}
START_ATTRIBUTES: dict[str, Any] = {
    "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
    "gen_ai.request.temperature": 0.2, "gen_ai.request.stop_sequences": ("\n",),
}


def ended_attributes(provider: TracerProvider, exporter: InMemorySpanExporter, fast: bool,
                     attrs: dict[str, Any], pre: dict[str, Any] | None = None) -> dict[str, Any]:
    span = provider.get_tracer("t").start_span("s", attributes=pre)
    if fast:
        set_clean(span, attrs)
    else:
        span.set_attributes(attrs)
    span.end()
    return dict(exporter.get_finished_spans()[-1].attributes or {})


def test_end_attributes_equal_the_public_path() -> None:
    provider, exporter = provider_with()
    assert ended_attributes(provider, exporter, True, END_ATTRIBUTES) == \
        ended_attributes(provider, exporter, False, END_ATTRIBUTES) == END_ATTRIBUTES


@pytest.mark.parametrize("limits", [SpanLimits(max_attribute_length=8), SpanLimits(max_span_attributes=4)])
def test_limits_in_force_take_the_public_path(limits: SpanLimits) -> None:
    # A value length limit truncates text; a count limit evicts the oldest attributes: the same
    # either way, because the shortcut steps aside for both.
    provider, exporter = provider_with(limits=limits)
    pre = {"a": "first", "b": "second"}
    fast = ended_attributes(provider, exporter, True, END_ATTRIBUTES, pre)
    assert fast == ended_attributes(provider, exporter, False, END_ATTRIBUTES, pre)
    if limits.max_attribute_length == 8:
        assert fast["gen_ai.response.model"] == "gpt-4o-2"
    else:
        assert len(fast) == 4 and "a" not in fast


def test_an_ended_span_is_left_alone() -> None:
    provider, exporter = provider_with()
    span = provider.get_tracer("t").start_span("s")
    span.end()
    set_clean(span, END_ATTRIBUTES)
    assert dict(exporter.get_finished_spans()[0].attributes or {}) == {}


class SeesAttributesAtStart(SpanProcessor):
    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.seen.append(dict(span.attributes or {}))


class DropsByAttribute(sampling.Sampler):
    """Drops spans whose gen_ai.request.model is 'gpt-4o' (a sampler that reads start attributes)."""

    def should_sample(self, parent_context: Context | None, trace_id: int, name: str,
                      kind: SpanKind | None = None, attributes: Any = None, links: Sequence[Any] | None = None,
                      trace_state: Any = None) -> sampling.SamplingResult:
        if attributes and attributes.get("gen_ai.request.model") == "gpt-4o":
            return sampling.SamplingResult(sampling.Decision.DROP)
        return sampling.SamplingResult(sampling.Decision.RECORD_AND_SAMPLE, attributes)

    def get_description(self) -> str:
        return "DropsByAttribute"


def started(provider: TracerProvider, attrs: dict[str, Any]) -> Any:
    tracer = provider.get_tracer("t")
    return start_span(tracer, "chat gpt-4o", None, SpanKind.CLIENT, dict(attrs), None, 1_000)


def test_start_attributes_arrive_whichever_path_is_taken() -> None:
    quiet, quiet_exporter = provider_with()
    watcher = SeesAttributesAtStart()
    loud, loud_exporter = provider_with(watcher)
    for provider in (quiet, loud):
        span = started(provider, START_ATTRIBUTES)
        span.end()
    for exporter in (quiet_exporter, loud_exporter):
        (span_data,) = exporter.get_finished_spans()
        assert dict(span_data.attributes or {}) == START_ATTRIBUTES
        assert span_data.kind is SpanKind.CLIENT and span_data.start_time == 1_000
    # a processor that reads attributes in on_start sees them: the attributes went in at the start
    assert watcher.seen == [START_ATTRIBUTES]
    assert _late_start_attributes_ok(quiet.get_tracer("t"))
    assert not _late_start_attributes_ok(loud.get_tracer("t"))


def test_the_verdict_per_tracer_follows_processors_added_later() -> None:
    provider, _ = provider_with()
    tracer = provider.get_tracer("t")
    assert _late_start_attributes_ok(tracer) and _late_start_attributes_ok(tracer)  # decided, then kept
    watcher = SeesAttributesAtStart()
    provider.add_span_processor(watcher)  # the same tracer now has a processor that reads at start
    assert not _late_start_attributes_ok(tracer)
    start_span(tracer, "chat gpt-4o", None, SpanKind.CLIENT, dict(START_ATTRIBUTES), None, 1_000).end()
    assert watcher.seen == [START_ATTRIBUTES]


def test_a_sampler_that_reads_attributes_still_sees_them() -> None:
    provider, exporter = provider_with(sampler=DropsByAttribute())
    assert not started(provider, START_ATTRIBUTES).is_recording()
    other = started(provider, {**START_ATTRIBUTES, "gen_ai.request.model": "o3"})
    assert other.is_recording()
    other.end()
    assert [s.name for s in exporter.get_finished_spans()] == ["chat gpt-4o"]


def test_values_of_other_types_go_through_the_sdk() -> None:
    provider, exporter = provider_with()
    span = started(provider, {"gen_ai.request.stop_sequences": ["a", "b"], "x": 1})
    span.end()
    assert exporter.get_finished_spans()[0].attributes == {"gen_ai.request.stop_sequences": ("a", "b"), "x": 1}


def test_decorated_calls_export_the_same_attributes_as_before(tel: Captured) -> None:
    @agentwatch.track_inference(provider="openai", model="gpt-4o", temperature=0.2, stop=["\n"])
    def ask() -> dict[str, Any]:
        return {"model": "gpt-4o-2024-08-06", "id": "c1", "choices": [{"finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1000, "completion_tokens": 100,
                          "prompt_tokens_details": {"cached_tokens": 200}}}

    ask()
    span: ReadableSpan = tel.span("chat gpt-4o")
    attrs = dict(span.attributes or {})
    assert attrs["gen_ai.request.temperature"] == 0.2
    assert attrs["gen_ai.request.stop"] == ("\n",)
    assert attrs["gen_ai.usage.input_tokens"] == 1000
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 200
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    # list prices of gpt-4o: $2.50 / M input, $1.25 / M cached input, $10 / M output
    assert attrs["agentwatch.cost.usd"] == pytest.approx((800 * 2.5 + 200 * 1.25 + 100 * 10) / 1e6)


# --- Prometheus ------------------------------------------------------------------------------------
def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in registry.collect() for s in family.samples
        if not s.name.endswith("_created")
    }


def completed_calls() -> list[Completed]:
    chat = Inference(provider="openai", model="gpt-4o")
    node = Stage(name="draft", graph="g")
    out = []
    for i, (duration, outcome) in enumerate([(0.0004, "ok"), (0.01, "ok"), (0.3, "error"), (100.0, "ok"),
                                             (2.56, "ok")]):
        usage = Usage(input_tokens=100 + i, output_tokens=10, cache_read_tokens=i, reasoning_tokens=1)
        out.append(Completed(record=chat, outcome=outcome, duration_s=duration, start_ns=0,
                             end_ns=int(duration * 1e9), trace_id=0, usage=usage,
                             response_model="gpt-4o-2024-08-06",
                             error_type="RateLimitError" if outcome == "error" else None,
                             time_to_first_chunk_s=duration / 2))
        out.append(Completed(record=node, outcome=outcome, duration_s=duration, start_ns=0,
                             end_ns=int(duration * 1e9), graph="g"))
    return out


def test_direct_metric_updates_equal_the_client_methods() -> None:
    direct, public = CollectorRegistry(), CollectorRegistry()
    fast_sink = PrometheusSink(direct, exemplars=False)
    slow_sink = PrometheusSink(public, exemplars=False)
    try:
        for family in vars(slow_sink).values():
            if hasattr(family, "direct"):
                family.direct = False  # decided once per family: this one keeps the public methods
        for c in completed_calls():
            fast_sink.on_completed(c)
            slow_sink.on_completed(c)
        got, want = samples(direct), samples(public)
        assert got == want
        fast_families = [family for family in vars(fast_sink).values() if hasattr(family, "direct")]
        assert any(family.direct for family in fast_families)
        assert any(family.floats for family in fast_families)  # batched: floats added under the apply lock
        bucket = ("agentwatch_llm_call_duration_seconds_bucket",
                  (("le", "0.01"), ("model", "gpt-4o-2024-08-06"), ("operation", "chat"), ("provider", "openai")))
        assert got[bucket] == 2  # 0.0004 s and exactly 0.01 s (a bound is inclusive)
    finally:
        fast_sink.close()
        slow_sink.close()


def test_exemplars_still_carry_the_trace_id() -> None:
    registry = CollectorRegistry()
    sink = PrometheusSink(registry)
    try:
        call = completed_calls()[0]
        sink.on_completed(dataclasses.replace(call, trace_id=0xABC, end_ns=10**12))
        family = next(f for f in registry.collect() if f.name == "agentwatch_llm_calls")
        (sample,) = [s for s in family.samples if s.name == "agentwatch_llm_calls_total"]
        assert sample.exemplar is not None and sample.exemplar.labels == {"trace_id": f"{0xABC:032x}"}
    finally:
        sink.close()


# --- Usage -----------------------------------------------------------------------------------------
def test_usage_keeps_the_dataclass_contract() -> None:
    params = list(inspect.signature(Usage).parameters.values())
    fields = dataclasses.fields(Usage)
    assert [(p.name, p.default) for p in params] == [(f.name, f.default) for f in fields]
    usage = Usage(1000, 100, cache_read_tokens=200)
    assert usage == Usage(input_tokens=1000, output_tokens=100, cache_read_tokens=200)
    assert hash(usage) == hash(Usage(1000, 100, 200))
    assert dataclasses.replace(usage, output_tokens=5).output_tokens == 5
    with pytest.raises(dataclasses.FrozenInstanceError):
        usage.input_tokens = 1  # type: ignore[misc]


def test_a_folded_model_label_is_counted_on_every_call() -> None:
    # Past the label limit a model becomes "other" and each such call counts in
    # agentwatch_label_overflow_total, whether or not the series was resolved before.
    registry = CollectorRegistry()
    sink = PrometheusSink(registry, exemplars=False, max_label_values=2)
    try:
        for model in ("m1", "m2", "m3", "m3", "m3", "m4"):
            record = Inference(provider="openai", model=model)
            sink.on_completed(Completed(record=record, outcome="ok", duration_s=0.1, start_ns=0, end_ns=1,
                                        usage=Usage(10, 1)))
        got = samples(registry)
        assert got[("agentwatch_label_overflow_total", (("label", "model"),))] == 4
        assert got[("agentwatch_llm_calls_total", (("model", "other"), ("operation", "chat"),
                                                   ("outcome", "ok"), ("provider", "openai")))] == 4
    finally:
        sink.close()


def test_stage_and_workflow_series_add_up_and_count_folded_labels() -> None:
    # Stage and workflow series are resolved once per (graph, stage) / graph, like a model's: every
    # run still lands in its series, rollups add up, and a folded label is counted on every run.
    registry = CollectorRegistry()
    sink = PrometheusSink(registry, exemplars=False, max_label_values=2)
    try:
        def stage(name: str, outcome: str, rollup: Rollup | None) -> Completed:
            return Completed(record=Stage(name=name, graph="g"), outcome=outcome, duration_s=0.2, start_ns=0,
                             end_ns=1, rollup=rollup, graph="g")

        one = Rollup(cost_usd=0.25, input_tokens=100, output_tokens=10, llm_calls=1)
        for c in (stage("plan", "ok", one), stage("plan", "ok", one), stage("plan", "error", None),
                  stage("draft", "ok", Rollup()), stage("review", "ok", one), stage("extra", "ok", one)):
            sink.on_completed(c)
        for _ in range(2):
            sink.on_completed(Completed(record=Workflow(name="g"), outcome="ok", duration_s=1.0, start_ns=0,
                                        end_ns=1, rollup=Rollup(cost_usd=0.5)))
        got = samples(registry)
        runs = "agentwatch_stage_runs_total"
        assert got[(runs, (("graph", "g"), ("outcome", "ok"), ("stage", "plan")))] == 2
        assert got[(runs, (("graph", "g"), ("outcome", "error"), ("stage", "plan")))] == 1
        assert got[(runs, (("graph", "g"), ("outcome", "ok"), ("stage", "draft")))] == 1
        assert got[(runs, (("graph", "g"), ("outcome", "ok"), ("stage", "other")))] == 2
        # "graph" is one value; "stage" folded review and extra (each counted once per run)
        assert got[("agentwatch_label_overflow_total", (("label", "stage"),))] == 2
        assert got[("agentwatch_stage_cost_usd_total", (("graph", "g"), ("stage", "plan")))] == 0.5
        assert got[("agentwatch_stage_cost_usd_total", (("graph", "g"), ("stage", "other")))] == 0.5
        assert ("agentwatch_stage_cost_usd_total", (("graph", "g"), ("stage", "draft"))) not in got
        assert got[("agentwatch_stage_tokens_total", (("graph", "g"), ("stage", "plan"), ("type", "input")))] == 200
        assert got[("agentwatch_stage_tokens_total", (("graph", "g"), ("stage", "plan"), ("type", "output")))] == 20
        assert got[("agentwatch_stage_duration_seconds_count", (("graph", "g"), ("stage", "plan")))] == 3
        assert got[("agentwatch_workflow_runs_total", (("graph", "g"), ("outcome", "ok")))] == 2
        assert got[("agentwatch_workflow_cost_usd_total", (("graph", "g"),))] == 1.0
        assert got[("agentwatch_workflow_duration_seconds_sum", (("graph", "g"),))] == 2.0
    finally:
        sink.close()


def test_a_repeated_record_keeps_its_start_attributes_and_takes_each_context(tel: Captured) -> None:
    # The start attributes of a record are built once; the context's values still apply per call,
    # and never leak into the kept attributes.
    telemetry = agentwatch.current()
    assert telemetry is not None
    recorder = telemetry.recorder
    record = Stage(name="plan", graph="g")
    with agentwatch.context(user_id="u1"):
        recorder.finish(recorder.start(record, None))
    recorder.finish(recorder.start(record, None))
    with agentwatch.context(user_id="u2", tenant="t"):
        recorder.finish(recorder.start(record, None))
    spans = tel.spans_named("plan")
    assert len(spans) == 3
    got = [dict(s.attributes or {}) for s in spans]
    assert got[0]["agentwatch.stage.name"] == got[1]["agentwatch.stage.name"] == "plan"
    assert got[0]["agentwatch.graph.name"] == got[2]["agentwatch.graph.name"] == "g"
    assert [(a.get("user.id"), a.get("tenant")) for a in got] == [("u1", None), (None, None), ("u2", "t")]


def test_records_made_per_call_do_not_fill_the_start_cache(tel: Captured) -> None:
    # A `with stage(...)` block made per request shares one record; a record made per call (here
    # a new Stage each time) only passes through the small table of records seen once.
    assert agentwatch.stage("request").record is agentwatch.stage("request").record
    telemetry = agentwatch.current()
    assert telemetry is not None
    recorder = telemetry.recorder
    for i in range(500):
        recorder.finish(recorder.start(Stage(name=f"one-off-{i % 7}"), None))
    assert not any(type(entry[0]) is Stage and entry[0].name.startswith("one-off") for entry in
                   recorder._starts.values())
    assert len(recorder._seen) <= 64
    assert len(tel.spans_named("one-off-3")) == 71
