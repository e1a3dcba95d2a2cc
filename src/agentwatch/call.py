"""The handle of a call in flight: what the recorder learns between a record's start and its end.

Adapters and user code fill it (``agentwatch.current_call().record_usage(...)``); the recorder
reads it once, when the call ends, and turns it into a frozen :class:`~agentwatch.records.Completed`.
Every setter is safe to call from any thread and never raises into the caller.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any

from agentwatch import errors, forking, names
from agentwatch.records import AttributeValue, Record, SpanRef, Stage, Workflow
from agentwatch.sanitize import attribute_value, finite_or_none, is_sensitive_key, safe_text
from agentwatch.span_values import MAX_NAME_CHARS, export_text
from agentwatch.usage import Usage

if TYPE_CHECKING:
    from opentelemetry.trace import Span


#: more tokens than any call can have: a count above this is a bug upstream, not usage
MAX_TOKENS = 2**53
_MAX_ATTRIBUTES = 256
_MAX_NAMES = 128
_OUTCOMES = frozenset((names.OUTCOME_OK, names.OUTCOME_ERROR, names.OUTCOME_INTERRUPTED))


def _count(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"token count must be a number, not {type(value).__name__}")
    if math.isnan(value) or value < 0 or value > MAX_TOKENS:
        raise ValueError(f"token count must be a number from 0 to 2**53, not {value!r}")
    return int(value)


def _count_arg(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return min(value, 2**63 - 1)


class Call:
    """A record in flight. Created by :meth:`Recorder.start`; ended by ``finish`` / ``fail``."""

    # Everything but the first four starts at a class-level default (all immutable): a call sets
    # only what it learns, instead of 25 fields at creation (one Call per span, nine per graph run).
    graph: str | None = None
    usage: Usage | None = None
    response_model: str | None = None
    response_id: str | None = None
    finish_reasons: tuple[str, ...] = ()
    first_chunk_ns: int | None = None
    attributes: dict[str, AttributeValue] | None = None
    documents: tuple[tuple[str | None, float | None], ...] | None = None
    returned: int | None = None
    outcome: str | None = None
    error_type: str | None = None
    attempts: int | None = None
    tool_calls: tuple[str, ...] = ()
    output: Any = None
    route_to: tuple[str, ...] = ()
    ended: bool = False
    rollup_cost: float = 0.0
    rollup_input: int = 0
    rollup_output: int = 0
    rollup_calls: int = 0
    rollup_unpriced: int = 0

    def __init__(self, record: Record, span: Span, parent: Call | None, start_ns: int) -> None:
        self.record = record
        self.span = span
        self.parent = parent
        self.start_ns = start_ns

    # --- what user code and adapters tell us -------------------------------------------------
    def record_usage(
        self,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        cache_read_tokens: int | None = None,
        cache_write_tokens: int | None = None,
        reasoning_tokens: int | None = None,
        *,
        cache_write_1h_tokens: int | None = None,
        estimated: bool = False,
    ) -> None:
        """Set the call's token usage (semconv meaning: input includes cache, output includes reasoning).

        Overrides whatever agentwatch would read from the function's result.
        """
        try:
            self.usage = Usage(
                input_tokens=_count(input_tokens),
                output_tokens=_count(output_tokens),
                cache_read_tokens=_count(cache_read_tokens),
                cache_write_tokens=_count(cache_write_tokens),
                reasoning_tokens=_count(reasoning_tokens),
                cache_write_1h_tokens=_count(cache_write_1h_tokens),
                estimated=estimated is True,
            )
        except Exception as exc:
            errors.report("usage", exc)

    def set_usage(self, usage: Usage | None) -> None:
        if usage is None or isinstance(usage, Usage):
            self.usage = usage
        else:
            errors.report("usage", f"set_usage expects a Usage, got {type(usage).__name__}")

    def set_response_model(self, model: str | None) -> None:
        if model is None or isinstance(model, str):
            self.response_model = export_text(model) if model else None

    def set_response_id(self, response_id: str | None) -> None:
        if response_id is None or isinstance(response_id, str):
            self.response_id = export_text(response_id) if response_id else None

    def set_finish_reasons(self, reasons: Iterable[str]) -> None:
        try:
            if isinstance(reasons, str):
                reasons = (reasons,)
            self.finish_reasons = tuple([export_text(r) for r in islice(reasons, _MAX_NAMES)
                                         if r is not None])
        except Exception as exc:
            errors.report("call", exc)

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        """Add a span attribute.

        Dropped (and counted once per kind) when ``value`` is not an OTel attribute value, or when
        ``key`` names a credential (``authorization``, ``api_key``, ``password`` ...): secrets are
        never recorded. Text values are scrubbed of API keys and connection-string passwords.
        """
        if value is None or not isinstance(key, str) or not key:
            return
        try:
            if is_sensitive_key(key):
                errors.report("attribute", "an attribute named like a credential was dropped")
                return
            clean = attribute_value(value)
            if clean is None:
                errors.report("attribute", f"set_attribute: {type(value).__name__} is not an attribute value")
                return
            if self.attributes is None:
                self.attributes = {}
            elif len(self.attributes) >= _MAX_ATTRIBUTES and key not in self.attributes:
                errors.report("attribute", f"more than {_MAX_ATTRIBUTES} attributes on one call")
                return
            self.attributes[safe_text(key)] = clean
        except Exception as exc:
            errors.report("attribute", exc)

    def mark_first_chunk(self, when_ns: int | None = None) -> None:
        """Note that the first chunk of a streamed answer arrived (time to first chunk)."""
        if self.first_chunk_ns is None:
            self.first_chunk_ns = when_ns if isinstance(when_ns, int) else time.time_ns()

    def set_documents(self, documents: Sequence[tuple[str | None, float | None]]) -> None:
        """Ids and scores of what a retrieval returned, best first (a score that is not a finite
        number is kept as unknown)."""
        try:
            self.documents = tuple(
                (
                    i if i is None or (type(i) is str and len(i) <= MAX_NAME_CHARS and i.isascii())
                    else export_text(i),
                    s if type(s) is float and math.isfinite(s) else finite_or_none(s),
                )
                for i, s in documents
            )
            self.returned = len(self.documents)
        except Exception as exc:
            errors.report("retrieval", exc)

    def set_returned(self, count: int) -> None:
        value = _count_arg(count)
        if value is None:
            errors.report("retrieval", f"set_returned expects a count, got {type(count).__name__}")
        else:
            self.returned = value

    def set_outcome(self, outcome: str) -> None:
        """Force an outcome (``ok``, ``error`` or ``interrupted``) for the end of this call."""
        if isinstance(outcome, str) and outcome in _OUTCOMES:
            self.outcome = outcome
        else:  # any other value would become an unbounded metric label
            errors.report("call", "set_outcome expects 'ok', 'error' or 'interrupted'")

    def set_attempts(self, attempts: int) -> None:
        value = _count_arg(attempts)
        if value is None:
            errors.report("call", f"set_attempts expects a count, got {type(attempts).__name__}")
        else:
            self.attempts = value

    def set_tool_calls(self, names: Iterable[str]) -> None:
        """Names of the tools a model asked to call in its answer."""
        try:
            if isinstance(names, str):
                names = (names,)
            self.tool_calls = tuple(export_text(n) for n in islice(names, _MAX_NAMES))
        except Exception as exc:
            errors.report("call", exc)

    def set_output(self, content: Any) -> None:
        """The call's output content (kept only when content capture is on)."""
        self.output = content

    def add_route(self, target: str) -> None:
        """Record a routing decision taken at the end of this stage."""
        if len(self.route_to) < _MAX_NAMES:
            self.route_to = (*self.route_to, export_text(target))

    @property
    def span_ref(self) -> SpanRef:
        ctx = self.span.get_span_context()
        return SpanRef(trace_id=ctx.trace_id, span_id=ctx.span_id)

    def __repr__(self) -> str:
        return f"<Call {type(self.record).__name__} {getattr(self.record, 'name', None) or ''}>"


class NoopCall(Call):
    """Returned by :func:`agentwatch.current_call` outside tracked code: accepts everything, keeps nothing."""

    def __init__(self) -> None:  # no record, no span; "ended", so a recorder handed it does nothing
        self.ended = True

    def record_usage(self, *args: Any, **kwargs: Any) -> None:
        return None

    def set_usage(self, usage: Usage | None) -> None:
        return None

    def set_response_model(self, model: str | None) -> None:
        return None

    def set_response_id(self, response_id: str | None) -> None:
        return None

    def set_finish_reasons(self, reasons: Iterable[str]) -> None:
        return None

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        return None

    def mark_first_chunk(self, when_ns: int | None = None) -> None:
        return None

    def set_documents(self, documents: Sequence[tuple[str | None, float | None]]) -> None:
        return None

    def set_returned(self, count: int) -> None:
        return None

    def set_outcome(self, outcome: str) -> None:
        return None

    def set_attempts(self, attempts: int) -> None:
        return None

    def set_tool_calls(self, names: Iterable[str]) -> None:
        return None

    def set_output(self, content: Any) -> None:
        return None

    def add_route(self, target: str) -> None:
        return None

    def __repr__(self) -> str:
        return "<NoopCall>"


NOOP_CALL = NoopCall()


class ShadowCall(Call):
    """A model call nested in another model call: records nothing, lends what it learns to the outer one."""

    def __init__(self, record: Record, outer: Call, start_ns: int) -> None:
        super().__init__(record, outer.span, outer, start_ns)

    def lend(self) -> None:
        outer = self.parent
        assert outer is not None
        if outer.usage is None and self.usage is not None:
            outer.usage = self.usage
        if outer.response_model is None and self.response_model is not None:
            outer.response_model = self.response_model
        if outer.response_id is None and self.response_id is not None:
            outer.response_id = self.response_id
        if not outer.finish_reasons and self.finish_reasons:
            outer.finish_reasons = self.finish_reasons
        if outer.first_chunk_ns is None and self.first_chunk_ns is not None:
            outer.first_chunk_ns = self.first_chunk_ns
        if outer.attempts is None and self.attempts is not None:
            outer.attempts = self.attempts
        if not outer.tool_calls and self.tool_calls:
            outer.tool_calls = self.tool_calls
        if outer.documents is None and self.documents is not None:
            outer.documents = self.documents
        if outer.returned is None and self.returned is not None:
            outer.returned = self.returned
        if self.attributes:
            for key, value in self.attributes.items():
                outer.set_attribute(key, value)


# --- rollups: the cost and tokens of model calls, summed on the stage or workflow enclosing them ---
_rollup_lock = threading.Lock()


def _after_fork() -> None:
    global _rollup_lock
    _rollup_lock = threading.Lock()


forking.register(_after_fork)


def roll_up(parent: Call, cost: float, inp: int, out: int, calls: int, unpriced: int) -> None:
    """Add one ended call's sums to the stage or workflow enclosing it. A search or a tool in
    between (the query embedding of a retrieval, a model call inside a tool) passes them on."""
    target: Call | None = parent
    while target is not None and not isinstance(target.record, (Stage, Workflow)):
        target = target.parent
    if target is None:
        return
    with _rollup_lock:
        target.rollup_cost += cost
        target.rollup_input += inp
        target.rollup_output += out
        target.rollup_calls += calls
        target.rollup_unpriced += unpriced


def rollup_sums(call: Call) -> tuple[float, int, int, int, int]:
    """The five sums of ``call`` as one consistent snapshot: cost, input and output tokens, model
    calls, unpriced calls."""
    with _rollup_lock:
        return (call.rollup_cost, call.rollup_input, call.rollup_output, call.rollup_calls,
                call.rollup_unpriced)
