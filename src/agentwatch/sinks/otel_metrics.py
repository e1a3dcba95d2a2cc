"""The OTel GenAI client metrics (``gen_ai.client.*``) on a configured MeterProvider."""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from agentwatch import names
from agentwatch.records import Completed, Inference


class OTelMetricsSink:
    #: records may arrive after their call ended, from any thread (see agentwatch.completion_queue)
    takes_late_records = True

    def __init__(self, meter_provider: MeterProvider, version: str = "") -> None:
        meter = meter_provider.get_meter("agentwatch", version)
        self.token_usage = meter.create_histogram(
            names.GEN_AI_CLIENT_TOKEN_USAGE, unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=list(names.TOKEN_BUCKETS),
        )
        self.duration = meter.create_histogram(
            names.GEN_AI_CLIENT_OPERATION_DURATION, unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=list(names.DURATION_BUCKETS),
        )
        self.ttfc = meter.create_histogram(
            names.GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK, unit="s",
            description="Time to receive the first chunk of a streamed response.",
            explicit_bucket_boundaries_advisory=list(names.DURATION_BUCKETS),
        )

    def on_completed(self, c: Completed) -> None:
        record = c.record
        if not isinstance(record, Inference):
            return
        attrs: dict[str, Any] = {
            names.GEN_AI_OPERATION_NAME: record.operation,
            names.GEN_AI_PROVIDER_NAME: record.provider,
            names.GEN_AI_REQUEST_MODEL: record.model,
        }
        if c.response_model:
            attrs[names.GEN_AI_RESPONSE_MODEL] = c.response_model
        if record.server_address:
            attrs[names.SERVER_ADDRESS] = record.server_address
        if record.server_port:
            attrs[names.SERVER_PORT] = record.server_port
        if c.error_type:
            attrs[names.ERROR_TYPE] = c.error_type
        # Record inside the span's context so exemplars link a bucket to its trace.
        ctx = None
        if c.trace_id:
            span_ctx = SpanContext(c.trace_id, c.span_id, is_remote=False,
                                   trace_flags=TraceFlags(TraceFlags.SAMPLED))
            ctx = trace.set_span_in_context(NonRecordingSpan(span_ctx))
        self.duration.record(c.duration_s, attrs, context=ctx)
        if c.time_to_first_chunk_s is not None:
            self.ttfc.record(c.time_to_first_chunk_s, attrs, context=ctx)
        if c.usage is not None:
            self.token_usage.record(c.usage.input_tokens, {**attrs, names.GEN_AI_TOKEN_TYPE: "input"},
                                    context=ctx)
            self.token_usage.record(c.usage.output_tokens, {**attrs, names.GEN_AI_TOKEN_TYPE: "output"},
                                    context=ctx)
