"""Start spans and set attributes agentwatch built itself, without the SDK validating them again.

The OTel SDK checks every attribute value it is given (type, nested sequences, mappings, length)
and takes two locks per batch; for the dozen attributes a model call carries that is about a
third of what recording the call costs. The values the recorder sets are already of the exported
types (text made safe, token counts bounded, tuples not lists), so for a span of the OpenTelemetry
SDK, with no attribute length limit set and room left under the count limit, they are stored the
way the SDK stores them after its checks. Anything else (another SDK, a no-op span, a limit in
force, an ended span, a value of another type) goes through the public ``set_attributes``.

At the start of a span the attributes are also the sampler's input and visible to span
processors' ``on_start``. They are set right after the start instead only when neither can tell
the difference: the SDK's own samplers (which copy the attributes into the span unchanged) and
processors whose ``on_start`` does nothing (the SDK's batch and simple processors, agentwatch's).
Where, beyond that, nothing can read a span before its end either, the span starts as a
:class:`~agentwatch.pending_span.PendingSpan` and takes the SDK's form only when it ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.trace import SpanProcessor, SynchronousMultiSpanProcessor, sampling
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.sdk.trace import _Span as _SdkSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.trace import Link, Span, SpanKind, Tracer

from agentwatch import pending_span
from agentwatch.pending_span import PendingSpan
from agentwatch.records import AttributeValue

_SCALARS = frozenset((str, bool, int, float))
_PASS_THROUGH_SAMPLERS = frozenset((sampling.StaticSampler, sampling.TraceIdRatioBased))
_PARENT_BASED = frozenset((sampling.ParentBased, sampling.ParentBasedTraceIdRatio))
_DELEGATES = ("_root", "_remote_parent_sampled", "_remote_parent_not_sampled",
              "_local_parent_sampled", "_local_parent_not_sampled")
_QUIET_ON_START: set[Any] = {
    SpanProcessor.on_start, BatchSpanProcessor.on_start, SimpleSpanProcessor.on_start,
}


#: span processors' hooks just before a span ends that do nothing (newer SDKs call ``_on_ending``)
_QUIET_ON_ENDING = frozenset(getattr(p, "_on_ending", None)
                             for p in (SpanProcessor, BatchSpanProcessor, SimpleSpanProcessor))


def quiet_on_start(processor_type: type[SpanProcessor]) -> None:
    """Declare that ``processor_type.on_start`` does nothing (so start attributes may come late)."""
    _QUIET_ON_START.add(processor_type.on_start)


def _passes_attributes_through(sampler: Any) -> bool:
    kind = type(sampler)
    if kind in _PASS_THROUGH_SAMPLERS:
        return True
    if kind in _PARENT_BASED:
        return all(_passes_attributes_through(getattr(sampler, d, None)) for d in _DELEGATES)
    return False


class _Checked:
    """What was decided for one tracer: its sampler and the processor tuple it was decided for."""

    __slots__ = ("late_ok", "processors", "sampler", "starter")

    def __init__(
        self, sampler: Any, processors: Any, late_ok: bool, starter: pending_span.Starter | None
    ) -> None:
        self.sampler = sampler
        self.processors = processors
        self.late_ok = late_ok
        #: how spans of this tracer start as pending spans (None: as the SDK's own)
        self.starter = starter


_checked: dict[int, _Checked] = {}


_NOT_SDK = _Checked(None, None, False, None)


def _check(tracer: Tracer) -> _Checked:
    """What ``tracer`` allows: spans that nothing reads before the first attribute is set
    (``late_ok``), and spans that nothing reads before they end (``starter``)."""
    if type(tracer) is not SdkTracer:
        return _NOT_SDK
    multi = tracer.span_processor
    processors = getattr(multi, "_span_processors", None) if type(multi) is SynchronousMultiSpanProcessor \
        else None
    checked = _checked.get(id(tracer))
    if checked is not None and checked.processors is processors and checked.sampler is tracer.sampler:
        return checked
    late_ok = processors is not None and _passes_attributes_through(tracer.sampler) and all(
        type(p).on_start in _QUIET_ON_START for p in processors)
    starter = pending_span.starter(tracer) if late_ok and processors and all(
        getattr(type(p), "_on_ending", None) in _QUIET_ON_ENDING for p in processors) else None
    if len(_checked) > 64:
        _checked.clear()
    checked = _checked[id(tracer)] = _Checked(tracer.sampler, processors, late_ok, starter)
    return checked


def _late_start_attributes_ok(tracer: Tracer) -> bool:
    """Whether ``tracer`` starts spans that nothing reads before the first attribute is set."""
    return _check(tracer).late_ok


def all_clean(attrs: Mapping[str, Any]) -> bool:
    """Whether every value is one :func:`set_clean` takes as it is (a scalar or a tuple of them)."""
    for value in attrs.values():
        kind = type(value)
        if kind not in _SCALARS and (kind is not tuple or any(type(v) not in _SCALARS for v in value)):
            return False
    return True


def start_span(
    tracer: Tracer,
    name: str,
    context: Context | None,
    kind: SpanKind,
    attrs: dict[str, AttributeValue],
    links: list[Link] | None,
    start_ns: int,
    clean: bool | None = None,
) -> Span:
    """``tracer.start_span(...)`` with ``attrs``, setting them without a second check where it can
    (``clean``: whether :func:`all_clean` holds for ``attrs``, when the caller knows already)."""
    checked = _check(tracer)
    if attrs and checked.late_ok and (all_clean(attrs) if clean is None else clean):
        if checked.starter is not None:
            pending = pending_span.start(checked.starter, name, context, kind, attrs, links, start_ns)
            if pending is not None:
                return pending
        span = tracer.start_span(name, context=context, kind=kind, links=links, start_time=start_ns)
        store = _fast_target(span)
        if store is not None and (store.maxlen is None or len(store._dict) + len(attrs) <= store.maxlen):
            # Nothing else holds this span yet (the processors' on_start did nothing with it), so
            # there is no other writer to lock out.
            store._dict.update(attrs)
        else:
            set_clean(span, attrs)
        return span
    return tracer.start_span(name, context=context, kind=kind, attributes=dict(attrs), links=links,
                             start_time=start_ns)


def _fast_target(span: Any) -> BoundedAttributes | None:
    """The SDK attribute store of ``span`` when values can go straight in, else None."""
    if type(span) is not _SdkSpan:
        return None
    store = getattr(span, "_attributes", None)
    if type(store) is not BoundedAttributes or store.max_value_len is not None:
        return None
    return store


def set_clean(span: Span, attrs: Mapping[str, AttributeValue]) -> None:
    """Set ``attrs`` (non-empty str keys; str, bool, int, float or tuples of one type) on ``span``."""
    if type(span) is PendingSpan:
        span.set_clean(attrs)
        return
    store = _fast_target(span)
    if store is not None:
        sdk_span: Any = span
        with sdk_span._lock:
            if sdk_span._end_time is None:
                with store._lock:
                    values = store._dict
                    if store.maxlen is None or len(values) + len(attrs) <= store.maxlen:
                        values.update(attrs)
                        return
            else:
                return  # the SDK would only log a warning and drop them
    span.set_attributes(attrs)
