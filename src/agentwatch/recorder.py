"""The one place where a record becomes telemetry.

:class:`Recorder` opens a span when a record starts, and when it ends: sets the semconv and
agentwatch attributes, prices the usage, rolls cost and tokens up to the enclosing stage, ends the
span and hands a frozen :class:`~agentwatch.records.Completed` to every metric sink.

Threading contract: ``start``, ``finish`` and ``fail`` may be called from any thread or task, must
not block on I/O and never raise; a failure inside is counted and logged by :mod:`agentwatch.errors`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any, Final, Protocol

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from agentwatch import errors, names
from agentwatch import parenting as _parenting
from agentwatch.call import Call, ShadowCall, roll_up, rollup_sums
from agentwatch.completion_queue import CompletionQueue
from agentwatch.context import current_attributes
from agentwatch.cost import Cost
from agentwatch.records import (
    AttributeValue,
    Completed,
    Inference,
    Record,
    Rollup,
    Stage,
    ToolCall,
    VectorSearch,
    Workflow,
)
from agentwatch.sanitize import safe_text, scrub_secrets
from agentwatch.span_attributes import all_clean, set_clean, start_span
from agentwatch.span_values import content_text, documents_json, error_description, export_text, token_count
from agentwatch.usage import Usage

PriceFn = Callable[[str | None, str, Usage, datetime | None], Cost | None]
#: Called with (attribute key, text) before content is exported; returns the text to keep, or None to drop it.
RedactFn = Callable[[str, str], str | None]


class Sink(Protocol):
    """Receives every completed record. Must be fast, must not block, may raise (it is caught)."""

    def on_completed(self, completed: Completed) -> None: ...


class _Ambient:
    """Sentinel: find the parent from the current context and the registered adapters."""

    def __repr__(self) -> str:
        return "AMBIENT"


AMBIENT: Final = _Ambient()

_REPLAY_AFTER_NS = 3600 * 10**9
#: records whose start attributes are kept (see Recorder._starts); past this, the cache starts over
_MAX_STARTS = 4096
#: records started once so far that are remembered, to recognise the second start of one
_MAX_SEEN = 64
_EMPTY_CONTEXT = otel_context.Context()


class Recorder:
    def __init__(
        self,
        tracer: trace.Tracer,
        sinks: Sequence[Sink] = (),
        price: PriceFn | None = None,
        *,
        capture_content: bool = False,
        content_max_chars: int = 16_384,
        redact: RedactFn | None = None,
        model_label: Callable[[str | None, str], str] | None = None,
    ) -> None:
        self.tracer = tracer
        self.sinks: tuple[Sink, ...] = tuple(sinks)
        self.price = price
        self.capture_content = capture_content
        self.content_max_chars = content_max_chars
        self.redact = redact
        self.model_label = model_label
        self._static_attrs: dict[tuple[str, str, str], tuple[str, dict[str, AttributeValue]]] = {}
        #: id(record) -> (record, span name, kind, start attributes, all clean): records are immutable
        #: and adapters reuse them, so a repeated record's attributes are built and checked once
        #: (never changed afterwards: they are copied into the span, or merged into a new dict)
        self._starts: dict[int, tuple[Record, str, SpanKind, dict[str, AttributeValue], bool]] = {}
        #: id(record) -> record: started once so far (a record started again moves to _starts)
        self._seen: dict[int, Record] = {}
        #: sinks that hold records to apply them together: they apply what they hold after each
        #: batch of completed calls, so no record outlives the batch that completed it
        self._batch_ends = tuple(
            end for end in (getattr(s, "apply_waiting", None) for s in self.sinks) if callable(end)
        )
        #: ended calls waiting to be completed together
        self._queue = CompletionQueue(self._end_queued, self._after_batch if self._batch_ends else None)

    def flush(self) -> None:
        """Complete every ended call still waiting for its batch. Never raises."""
        self._queue.flush()

    def close(self) -> None:
        """Complete what waits and stop the queue's background thread."""
        self._queue.close()

    # --- start ------------------------------------------------------------------------------------
    def start(
        self,
        record: Record,
        parent: Call | _Ambient | None = AMBIENT,
        *,
        start_ns: int | None = None,
    ) -> Call:
        """Open the span of ``record`` and return its handle. Never raises."""
        if start_ns is None:
            start_ns = time.time_ns()
        try:
            if parent is AMBIENT:
                parent_call, ctx = _parenting.resolve()
            elif parent is None:
                parent_call, ctx = None, _EMPTY_CONTEXT
            else:
                assert isinstance(parent, Call)
                parent_call, ctx = parent, _parenting.context_with(parent)
            if (
                parent_call is not None
                and isinstance(record, (Inference, VectorSearch))
                and type(parent_call.record) is type(record)
            ):
                # A model call inside a model call (a LangChain chat model, or a decorated function,
                # calling an instrumented SDK client), or a search inside a search (a retriever over
                # an instrumented vector store): one call, one span. The inner one only lends what it
                # learns to the outer one.
                return ShadowCall(record, parent_call, start_ns)
            entry = self._starts.get(id(record))
            if entry is not None and entry[0] is record:
                _, name, kind, attrs, clean = entry
            else:
                name, kind, attrs = self._start_attributes(record)
                clean = all_clean(attrs)
                if not self.capture_content:  # (captured content is per call: not worth keeping)
                    self._remember(record, name, kind, attrs, clean)
            context_attrs = current_attributes()
            if context_attrs:
                attrs = {**attrs, **context_attrs}
                clean = clean and all_clean(context_attrs)
            links: list[Link] | None = None
            if isinstance(record, Workflow) and record.links:
                links = [
                    Link(SpanContext(r.trace_id, r.span_id, is_remote=False,
                                     trace_flags=TraceFlags(TraceFlags.SAMPLED)))
                    for r in record.links
                ]
            span = start_span(self.tracer, name, ctx, kind, attrs, links, start_ns, clean)
            call = Call(record, span, parent_call, start_ns)
            if isinstance(record, Stage):
                call.graph = record.graph
            return call
        except Exception as exc:
            errors.report("recorder", exc)
            return Call(record, trace.INVALID_SPAN, None, start_ns)

    def _remember(
        self, record: Record, name: str, kind: SpanKind, attrs: dict[str, AttributeValue], clean: bool
    ) -> None:
        """Keep the start attributes of a record started for the second time. A record made per call
        (a ``with stage(...)`` block, a one-off request) only passes through the small ``_seen``
        table, so it never fills ``_starts`` nor stays alive there."""
        key = id(record)
        if self._seen.get(key) is record:
            if len(self._starts) >= _MAX_STARTS:
                self._starts.clear()
            self._starts[key] = (record, name, kind, attrs, clean)
            return
        if len(self._seen) >= _MAX_SEEN:
            self._seen.clear()
        self._seen[key] = record

    def _start_attributes(self, record: Record) -> tuple[str, SpanKind, dict[str, AttributeValue]]:
        attrs: dict[str, AttributeValue]
        if isinstance(record, Inference):
            key = (record.operation, record.provider, record.model)
            cached = self._static_attrs.get(key)
            if cached is None:
                cached = (
                    safe_text(f"{record.operation} {record.model}"),
                    {
                        names.GEN_AI_OPERATION_NAME: safe_text(record.operation),
                        names.GEN_AI_PROVIDER_NAME: safe_text(record.provider),
                        names.GEN_AI_REQUEST_MODEL: safe_text(record.model),
                    },
                )
                if len(self._static_attrs) < 4096:
                    self._static_attrs[key] = cached
            name, static = cached
            attrs = dict(static)
            if record.request:
                attrs.update(record.request)
            if record.streaming:
                attrs[names.GEN_AI_REQUEST_STREAM] = True
            if record.server_address:
                attrs[names.SERVER_ADDRESS] = record.server_address
            if record.server_port:
                attrs[names.SERVER_PORT] = record.server_port
            if self.capture_content:
                self._content(attrs, names.GEN_AI_INPUT_MESSAGES, record.input_messages)
                self._content(attrs, names.GEN_AI_SYSTEM_INSTRUCTIONS, record.system_instructions)
            kind = SpanKind.CLIENT
        elif isinstance(record, Stage):
            attrs = {names.STAGE_NAME: safe_text(record.name)}
            if record.agent:
                attrs[names.GEN_AI_OPERATION_NAME] = names.OP_INVOKE_AGENT
                attrs[names.GEN_AI_AGENT_NAME] = attrs[names.STAGE_NAME]
            if record.graph is not None:
                attrs[names.GRAPH_NAME] = record.graph
            if record.step is not None:
                attrs[names.GRAPH_STEP] = record.step
            if record.attempt is not None:
                attrs[names.STAGE_ATTEMPT] = record.attempt
            name, kind = str(attrs[names.STAGE_NAME]), SpanKind.INTERNAL
        elif isinstance(record, Workflow):
            attrs = {
                names.GEN_AI_OPERATION_NAME: names.OP_INVOKE_WORKFLOW,
                names.GEN_AI_WORKFLOW_NAME: record.name,
                names.GRAPH_NAME: record.name,
            }
            if record.conversation_id is not None:
                attrs[names.GEN_AI_CONVERSATION_ID] = record.conversation_id
            name, kind = safe_text(f"{names.OP_INVOKE_WORKFLOW} {record.name}"), SpanKind.INTERNAL
        elif isinstance(record, VectorSearch):
            source = record.data_source_id or record.collection
            attrs = {
                names.GEN_AI_OPERATION_NAME: names.OP_RETRIEVAL,
                names.DB_SYSTEM_NAME: record.db,
                names.DB_COLLECTION_NAME: record.collection,
                names.GEN_AI_DATA_SOURCE_ID: source,
            }
            if record.top_k is not None:
                attrs[names.RETRIEVAL_TOP_K] = record.top_k
            if record.operation:
                attrs[names.DB_OPERATION_NAME] = record.operation
            if record.server_address:
                attrs[names.SERVER_ADDRESS] = record.server_address
            if record.server_port:
                attrs[names.SERVER_PORT] = record.server_port
            if self.capture_content:
                self._content(attrs, names.GEN_AI_RETRIEVAL_QUERY_TEXT, record.query)
            name, kind = safe_text(f"{names.OP_RETRIEVAL} {source}"), SpanKind.CLIENT
        elif isinstance(record, ToolCall):
            attrs = {
                names.GEN_AI_OPERATION_NAME: names.OP_EXECUTE_TOOL,
                names.GEN_AI_TOOL_NAME: record.name,
                names.GEN_AI_TOOL_TYPE: record.tool_type,
            }
            if record.call_id:
                attrs[names.GEN_AI_TOOL_CALL_ID] = record.call_id
            if record.description:
                attrs[names.GEN_AI_TOOL_DESCRIPTION] = record.description
            if self.capture_content:
                self._content(attrs, names.GEN_AI_TOOL_CALL_ARGUMENTS, record.arguments)
            name, kind = safe_text(f"{names.OP_EXECUTE_TOOL} {record.name}"), SpanKind.INTERNAL
        else:  # pragma: no cover - guarded by the Record union
            raise TypeError(f"not a record: {type(record).__name__}")
        for attr, value in attrs.items():
            if type(value) is str and not value.isascii():
                attrs[attr] = safe_text(value)  # a lone surrogate would make the encoder drop the batch
        return name, kind, attrs

    def _content(self, attrs: dict[str, AttributeValue], key: str, value: Any) -> None:
        """Captured content: secrets scrubbed (always), then the redaction hook, then the size limit."""
        if value is None:
            return
        text = content_text(value)
        if len(text) > self.content_max_chars + 512:  # never scan or hand on more than is kept
            text = text[: self.content_max_chars + 512]
        text = scrub_secrets(safe_text(text))
        if self.redact is not None:
            try:
                redacted = self.redact(key, text)
            except Exception as exc:
                errors.report("redact", exc)
                return  # a failing redaction hook drops the content rather than leak it
            if redacted is None:
                return
            text = safe_text(redacted) if isinstance(redacted, str) else content_text(redacted)
        if len(text) > self.content_max_chars:
            text = text[: self.content_max_chars] + "…[truncated]"
        attrs[key] = text

    # --- end --------------------------------------------------------------------------------------
    def finish(self, call: Call, *, end_ns: int | None = None) -> None:
        """End ``call`` normally (its outcome is ``ok`` unless one was set). Never raises."""
        self._end(call, None, end_ns)

    def fail(self, call: Call, error: BaseException, *, end_ns: int | None = None) -> None:
        """End ``call`` with an error (outcome ``error`` unless one was set). Never raises."""
        self._end(call, error, end_ns)

    def _end(self, call: Call, error: BaseException | None, end_ns: int | None) -> None:
        if call.ended:
            return
        call.ended = True
        if end_ns is None:
            end_ns = time.time_ns()
        if isinstance(call, ShadowCall):
            try:
                call.lend()
            except Exception as exc:
                errors.report("recorder", exc)
            return
        queue = self._queue
        try:
            if error is None and not self.capture_content and queue.accepts(self.tracer, self.sinks):
                # (with content capture on, a redaction hook runs on the caller's thread)
                queue.put(call, end_ns)
                return
            queue.flush()  # the calls that ended before this one first (their rollups may be its own)
        except Exception as exc:
            errors.report("recorder", exc)
        self._end_now(call, error, end_ns)

    def _end_queued(self, call: Call, end_ns: int) -> None:
        self._end_now(call, None, end_ns)

    def _after_batch(self) -> None:
        for end in self._batch_ends:
            try:
                end()
            except Exception as exc:
                errors.report("recorder", exc)

    def _end_now(self, call: Call, error: BaseException | None, end_ns: int) -> None:
        try:
            completed = self._complete(call, error, end_ns)
        except Exception as exc:
            errors.report("recorder", exc)
            try:
                call.span.end(end_time=end_ns)
            except Exception:
                pass
            return
        for sink in self.sinks:
            try:
                sink.on_completed(completed)
            except Exception as exc:
                errors.report(f"sink.{type(sink).__name__}", exc)

    def _complete(self, call: Call, error: BaseException | None, end_ns: int) -> Completed:
        span = call.span
        record = call.record
        attrs: dict[str, AttributeValue] = {}
        outcome = call.outcome or (names.OUTCOME_ERROR if error is not None else names.OUTCOME_OK)
        error_type = call.error_type
        if error is not None and error_type is None and outcome == names.OUTCOME_ERROR:
            error_type = type(error).__qualname__
        usage = cost = response_model = ttfc = rollup = None
        returned = call.returned
        if isinstance(record, Inference):
            usage = call.usage
            response_model = call.response_model or record.model
            if call.response_model:
                response_model = export_text(call.response_model)
                attrs[names.GEN_AI_RESPONSE_MODEL] = response_model
            if call.response_id:
                attrs[names.GEN_AI_RESPONSE_ID] = export_text(call.response_id)
            if call.finish_reasons:
                reasons = call.finish_reasons
                attrs[names.GEN_AI_RESPONSE_FINISH_REASONS] = (
                    (export_text(reasons[0]),) if len(reasons) == 1
                    else tuple([export_text(r) for r in reasons]))
            if call.first_chunk_ns is not None:
                ttfc = max(call.first_chunk_ns - call.start_ns, 0) / 1e9
                attrs[names.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = ttfc
            if call.tool_calls:
                attrs[names.TOOL_CALLS_COUNT] = len(call.tool_calls)
                attrs[names.TOOL_CALLS_NAMES] = tuple(export_text(n) for n in call.tool_calls)
            if call.attempts is not None:
                attrs[names.ATTEMPTS] = call.attempts
            if usage is not None:
                attrs[names.GEN_AI_USAGE_INPUT_TOKENS] = token_count(usage.input_tokens)
                attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS] = token_count(usage.output_tokens)
                if usage.cache_read_tokens:
                    attrs[names.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = token_count(usage.cache_read_tokens)
                if usage.cache_write_tokens:
                    attrs[names.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] = token_count(
                        usage.cache_write_tokens)
                if usage.reasoning_tokens:
                    attrs[names.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = token_count(usage.reasoning_tokens)
                attrs[names.USAGE_ESTIMATED] = usage.estimated
                cost = self._price(record.provider, response_model, usage, call)
                if cost is not None:
                    attrs[names.COST_USD] = cost.total
                    attrs[names.COST_INPUT_USD] = cost.input
                    attrs[names.COST_OUTPUT_USD] = cost.output
                    attrs[names.COST_SOURCE] = cost.source
                    if cost.tier:
                        attrs[names.COST_TIER] = cost.tier
            else:
                attrs[names.USAGE_REPORTED] = False
            if self.capture_content and call.output is not None:
                self._content(attrs, names.GEN_AI_OUTPUT_MESSAGES, call.output)
            if call.parent is not None and error is None and usage is not None:
                roll_up(
                    call.parent,
                    cost.total if cost is not None else 0.0,
                    usage.input_tokens,
                    usage.output_tokens,
                    1,
                    0 if cost is not None else 1,
                )
            elif call.parent is not None:
                roll_up(call.parent, 0.0, 0, 0, 1, 0)
        elif isinstance(record, (Stage, Workflow)):
            rollup = Rollup(*rollup_sums(call))  # cost, input and output tokens, calls, unpriced calls
            attrs[names.STAGE_OUTCOME] = outcome
            attrs[names.ROLLUP_COST_USD] = rollup.cost_usd
            attrs[names.ROLLUP_INPUT_TOKENS] = token_count(rollup.input_tokens)
            attrs[names.ROLLUP_OUTPUT_TOKENS] = token_count(rollup.output_tokens)
            attrs[names.ROLLUP_LLM_CALLS] = rollup.llm_calls
            if call.route_to:
                attrs[names.ROUTE_TO] = tuple(export_text(r) for r in call.route_to)
            if call.parent is not None:
                roll_up(
                    call.parent,
                    rollup.cost_usd,
                    rollup.input_tokens,
                    rollup.output_tokens,
                    rollup.llm_calls,
                    rollup.unpriced_calls,
                )
        elif isinstance(record, VectorSearch):
            if call.documents is not None:
                docs = call.documents
                scores = [s for _, s in docs if s is not None]
                if scores:
                    attrs[names.RETRIEVAL_TOP_SCORE] = float(scores[0])
                attrs[names.GEN_AI_RETRIEVAL_DOCUMENTS] = documents_json(docs)
            if returned is not None:
                attrs[names.RETRIEVAL_RETURNED] = returned
            if self.capture_content and call.output is not None:
                self._content(attrs, "agentwatch.retrieval.content", call.output)
        elif isinstance(record, ToolCall) and self.capture_content and call.output is not None:
            self._content(attrs, names.GEN_AI_TOOL_CALL_RESULT, call.output)
        if call.attributes:
            attrs.update(call.attributes)
        if error_type is not None:
            error_type = export_text(error_type)
            attrs[names.ERROR_TYPE] = error_type
        if attrs:
            set_clean(span, attrs)
        if outcome == names.OUTCOME_ERROR:
            description = error_description(error) if error is not None else None
            span.set_status(Status(StatusCode.ERROR, description))
        span.end(end_time=end_ns)
        ctx = span.get_span_context()
        return Completed(
            record=record,
            outcome=outcome,
            duration_s=max(end_ns - call.start_ns, 0) / 1e9,
            start_ns=call.start_ns,
            end_ns=end_ns,
            trace_id=ctx.trace_id,
            span_id=ctx.span_id,
            error_type=error_type,
            usage=usage,
            cost=cost,
            response_model=response_model,
            time_to_first_chunk_s=ttfc,
            returned=returned,
            rollup=rollup,
            graph=call.graph,
        )

    def _price(self, provider: str, model: str, usage: Usage, call: Call) -> Cost | None:
        if self.price is None:
            return None
        # Live calls are priced at today's rates; a call replayed from the past at its own date's.
        at = None if time.time_ns() - call.start_ns < _REPLAY_AFTER_NS else utc_from_ns(call.start_ns)
        try:
            return self.price(provider, model, usage, at)
        except Exception as exc:
            errors.report("pricing", exc)
            return None


def utc_from_ns(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc)
