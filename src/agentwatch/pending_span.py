"""Spans that take their SDK form only when they end, where nothing can look at them before.

The OTel SDK's ``Tracer.start_span`` builds its whole span at the start: a sampler round, four
locks, a bounded attribute store, bounded event and link lists, and the processors' ``on_start``.
That is most of what a span costs the call that opens it. Yet with the usual setup nothing reads
a span before it ends: a sampler that answers the same for the same kind of parent (the default
``ParentBased(ALWAYS_ON)``, ``ALWAYS_ON``), and span processors whose ``on_start`` does nothing
(agentwatch's, the SDK's batch and simple ones). While such a span runs, the only thing other
code sees of it is its span context, which children and propagators read.

A :class:`PendingSpan` is such a span. Its span context is made at the start exactly as the SDK
makes one (ids from the tracer's id generator, the sampler's decision, flags and trace state);
what it carries is kept in plain fields; at its end it becomes the SDK's ``ReadableSpan``, which
goes to the tracer's span processors as the SDK's own span sends its copy. All that the OTel Span
API allows on a running span works (attributes, events, links, status, name, exceptions), within
the tracer's span limits.

:mod:`agentwatch.span_attributes` decides once per tracer setup whether its spans may start this
way: it checks the span processors (nothing at the start or just before the end), and
:func:`starter` the rest of the tracer. Anything they do not recognise (another SDK, a processor
that does something at the start or just before the end, a sampler that reads its input, SDK
self-metrics, an attribute length limit, a disabled tracer) gets the SDK's own span.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, ReadableSpan, sampling
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import (
    Link,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    get_current_span,
)
from opentelemetry.util import types

from agentwatch.records import AttributeValue

logger = logging.getLogger(__name__)

#: the flag newer OTel APIs set on spans whose trace id is random (0 where the API has none)
_RANDOM_TRACE_ID: int = getattr(TraceFlags, "RANDOM_TRACE_ID", 0)
_UNSET = Status(StatusCode.UNSET)


class Starter:
    """What starting pending spans for one tracer needs, read once from the tracer."""

    __slots__ = ("decisions", "enabled", "flags", "id_generator", "info", "limits", "processor", "root_flags",
                 "scope", "tracer")

    def __init__(self, tracer: Any, decisions: tuple[bool, bool, bool, bool, bool]) -> None:
        self.tracer = tracer
        self.processor = tracer.span_processor
        self.id_generator = tracer.id_generator
        self.limits = tracer._span_limits
        #: whether the tracer is enabled now (newer SDKs; its configuration may change later)
        self.enabled: Callable[[], bool] | None = getattr(tracer, "_is_enabled", None)
        self.info = getattr(tracer, "instrumentation_info", None)
        self.scope = getattr(tracer, "_instrumentation_scope", None)
        #: sampled or not, for: no parent, remote sampled, remote not sampled, local sampled, local not
        self.decisions = decisions
        sampled = TraceFlags.SAMPLED
        #: a child's flags, by whether its parent's trace id is random
        self.flags = (TraceFlags(sampled), TraceFlags(sampled | _RANDOM_TRACE_ID))
        random_ids = getattr(self.id_generator, "is_trace_id_random", None)
        self.root_flags = self.flags[bool(_RANDOM_TRACE_ID and random_ids is not None and random_ids())]


def _static_decision(sampler: Any) -> bool | None:
    """What a sampler that never looks at its input decides (None: it may look)."""
    if type(sampler) is not sampling.StaticSampler:
        return None
    decision = getattr(sampler, "_decision", None)
    if decision is sampling.Decision.RECORD_AND_SAMPLE:
        return True
    if decision is sampling.Decision.DROP:
        return False
    return None


def _decisions(sampler: Any) -> tuple[bool, bool, bool, bool, bool] | None:
    """The sampler's decision for each kind of parent, when it depends on nothing else."""
    static = _static_decision(sampler)
    if static is not None:
        return (static,) * 5
    if type(sampler) is not sampling.ParentBased:
        return None
    found = tuple(_static_decision(getattr(sampler, d, None)) for d in (
        "_root", "_remote_parent_sampled", "_remote_parent_not_sampled",
        "_local_parent_sampled", "_local_parent_not_sampled"))
    if any(d is None for d in found):
        return None
    return found  # type: ignore[return-value]  # (no None left)


def starter(tracer: Any) -> Starter | None:
    """A :class:`Starter` for an SDK ``tracer`` whose processors are known to do nothing at a
    span's start and just before its end, when none of its other parts could tell a pending span
    from the SDK's."""
    decisions = _decisions(getattr(tracer, "sampler", None))
    limits = getattr(tracer, "_span_limits", None)
    metrics = getattr(tracer, "_tracer_metrics", None)
    if (
        decisions is None
        or not any(decisions)
        or limits is None
        or getattr(limits, "max_span_attribute_length", None) is not None
        # the SDK's own span metrics (opt-in) count spans at their start
        or (metrics is not None and type(metrics).__name__ != "NoOpTracerMetrics")
        or not all(hasattr(tracer, a) for a in ("span_processor", "id_generator", "resource"))
    ):
        return None
    return Starter(tracer, decisions)


def start(
    how: Starter,
    name: str,
    context: Context | None,
    kind: SpanKind,
    attrs: Mapping[str, AttributeValue],
    links: Sequence[Link] | None,
    start_ns: int,
) -> PendingSpan | None:
    """A pending span, or None where the SDK must start this one (a span the sampler drops, a
    disabled tracer). ``attrs`` are clean (see :mod:`agentwatch.span_attributes`) and kept as they
    are: the caller never changes them afterwards."""
    enabled = how.enabled
    if enabled is not None and not enabled():
        return None
    parent: SpanContext | None = get_current_span(context).get_span_context()
    ids = how.id_generator
    if type(parent) is not SpanContext:
        return None
    if parent.is_valid:
        flags = parent.trace_flags
        sampled = flags & TraceFlags.SAMPLED
        sample = how.decisions[(2 if parent.is_remote else 4) - (1 if sampled else 0)]
        if not sample:
            return None
        span_context = SpanContext(parent.trace_id, ids.generate_span_id(), False,
                                   how.flags[1 if flags & _RANDOM_TRACE_ID else 0], parent.trace_state)
    else:
        if not how.decisions[0]:
            return None
        parent = None
        span_context = SpanContext(ids.generate_trace_id(), ids.generate_span_id(), False, how.root_flags,
                                   None)
    return PendingSpan(how, name, span_context, parent, kind, attrs, _start_links(how, links), start_ns)


def _start_links(how: Starter, links: Sequence[Link] | None) -> BoundedList[Link] | None:
    """The links a span starts with, kept and bounded as the SDK keeps them."""
    if not links:
        return None
    limits = how.limits
    valid = []
    for link in links:
        if link and _valid_link(link.context, link.attributes):
            valid.append(Link(link.context, BoundedAttributes(
                limits.max_link_attributes, link.attributes, immutable=True,
                max_value_len=limits.max_attribute_length)))
    return BoundedList.from_seq(limits.max_links, valid)


def _valid_link(context: SpanContext | None, attributes: types.Attributes) -> bool:
    return bool(context and (context.is_valid or attributes or context.trace_state))


class PendingSpan(Span):
    """A recording span of the OTel SDK's tracer that becomes the SDK's ``ReadableSpan`` at its end."""

    __slots__ = ("_attributes", "_base", "_context", "_end_time", "_events", "_how", "_kind", "_links",
                 "_lock", "_name", "_parent", "_start_time", "_status")

    def __init__(
        self,
        how: Starter,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        kind: SpanKind,
        attrs: Mapping[str, AttributeValue],
        links: BoundedList[Link] | None,
        start_ns: int,
    ) -> None:
        self._how = how
        self._name = name
        self._context = context
        self._parent = parent
        self._kind = kind
        self._base = attrs  # shared with the caller, never changed: copied on the first change
        #: None until the first change; then a plain dict while only the recorder's clean attributes
        #: went in within the limit, else the SDK's bounded store (see :meth:`_bounded`)
        self._attributes: dict[str, Any] | BoundedAttributes | None = None
        self._events: BoundedList[Event] | None = None
        self._links = links
        self._status = _UNSET
        self._start_time = start_ns
        self._end_time: int | None = None
        self._lock = threading.Lock()  # its state changes under it (the recorder's end, user code)

    # --- what a running SDK span shows --------------------------------------------------------------
    def get_span_context(self) -> SpanContext:
        return self._context

    def is_recording(self) -> bool:
        return self._end_time is None

    @property
    def name(self) -> str:
        return self._name

    @property
    def context(self) -> SpanContext:
        return self._context

    @property
    def parent(self) -> SpanContext | None:
        return self._parent

    @property
    def kind(self) -> SpanKind:
        return self._kind

    @property
    def start_time(self) -> int:
        return self._start_time

    @property
    def end_time(self) -> int | None:
        return self._end_time

    @property
    def status(self) -> Status:
        return self._status

    @property
    def attributes(self) -> Mapping[str, Any]:
        store = self._attributes
        return MappingProxyType(dict(store) if store is not None else dict(self._base))

    @property
    def events(self) -> tuple[Event, ...]:
        return tuple(self._events or ())

    @property
    def links(self) -> tuple[Link, ...]:
        return tuple(self._links or ())

    # --- the Span API ----------------------------------------------------------------------------
    def _bounded(self) -> BoundedAttributes:
        """The SDK's bounded store of the span's attributes: for anything but the recorder's own clean
        attributes within the limit (call with the lock held)."""
        store = self._attributes
        if isinstance(store, BoundedAttributes):
            return store
        limits = self._how.limits
        bounded = BoundedAttributes(limits.max_span_attributes, immutable=False,
                                    max_value_len=limits.max_span_attribute_length)
        now = self._base if store is None else store
        if bounded.maxlen is None or len(now) <= bounded.maxlen:
            bounded._dict.update(now)
        else:
            for key, value in now.items():
                bounded[key] = value
        self._attributes = bounded
        return bounded

    def _ended(self, what: str) -> bool:
        if self._end_time is None:
            return False
        logger.warning("Tried calling %s on an ended span.", what)
        return True

    def set_clean(self, attrs: Mapping[str, AttributeValue]) -> None:
        """Set attributes agentwatch built itself (see :func:`agentwatch.span_attributes.set_clean`)."""
        with self._lock:
            if self._end_time is not None:
                return  # the SDK would only log a warning and drop them
            store = self._attributes
            if not isinstance(store, BoundedAttributes):
                # a plain dict: one GC-tracked object a span, where the SDK's store makes two (it
                # and its lock), kept for as long as the span waits in the processor's queue
                now = self._base if store is None else store
                limit = self._how.limits.max_span_attributes
                if limit is None or len(now) + len(attrs) <= limit:
                    if store is None:
                        self._attributes = {**now, **attrs}
                    else:
                        store.update(attrs)
                    return
                store = self._bounded()
            for key, value in attrs.items():
                store[key] = value

    def set_attributes(self, attributes: Mapping[str, types.AttributeValue]) -> None:
        with self._lock:
            if self._ended("set_attributes"):
                return
            store = self._bounded()
            for key, value in attributes.items():
                store[key] = value

    def set_attribute(self, key: str, value: types.AttributeValue) -> None:
        with self._lock:
            if self._ended("set_attribute"):
                return
            self._bounded()[key] = value

    def add_event(self, name: str, attributes: types.Attributes = None, timestamp: int | None = None) -> None:
        limits = self._how.limits
        bounded = BoundedAttributes(limits.max_event_attributes, attributes, immutable=True,
                                    max_value_len=limits.max_attribute_length)
        event = Event(name=name, attributes=bounded, timestamp=timestamp)
        with self._lock:
            if self._ended("add_event"):
                return
            if self._events is None:
                self._events = BoundedList(limits.max_events)
            self._events.append(event)

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        if not _valid_link(context, attributes):
            return
        limits = self._how.limits
        link = Link(context, BoundedAttributes(limits.max_link_attributes, attributes, immutable=True,
                                               max_value_len=limits.max_attribute_length))
        with self._lock:
            if self._ended("add_link"):
                return
            if self._links is None:
                self._links = BoundedList(limits.max_links)
            self._links.append(link)

    def update_name(self, name: str) -> None:
        with self._lock:
            if not self._ended("update_name"):
                self._name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        with self._lock:
            if self._ended("set_status"):
                return
            if self._status.status_code is StatusCode.OK:
                return  # OK is final
            if isinstance(status, Status):
                if status.status_code is StatusCode.UNSET:
                    return
                if description is not None:
                    logger.warning("Description %s ignored. Use either `Status` or "
                                   "`(StatusCode, Description)`", description)
                self._status = status
            elif isinstance(status, StatusCode) and status is not StatusCode.UNSET:
                self._status = Status(status, description)

    def record_exception(
        self,
        exception: BaseException,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        kind = type(exception)
        module = kind.__module__
        event: dict[str, Any] = {
            "exception.type": f"{module}.{kind.__qualname__}" if module and module != "builtins"
            else kind.__qualname__,
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped),
        }
        if attributes:
            event.update(attributes)
        self.add_event("exception", event, timestamp)

    def end(self, end_time: int | None = None) -> None:
        """End the span: its ``ReadableSpan`` goes to the tracer's span processors."""
        with self._lock:
            if self._ended("end"):
                return
            self._end_time = end_time if end_time is not None else time.time_ns()
            store = self._attributes
            if store is None:
                # a copy (the caller's dict outlives the span), or, for start attributes past the
                # count limit, the bounded store, which drops them as the SDK does
                limit = self._how.limits.max_span_attributes
                store = dict(self._base) if limit is None or len(self._base) <= limit else self._bounded()
            if type(store) is BoundedAttributes:
                store._immutable = True
        how = self._how
        tracer = how.tracer
        how.processor.on_end(ReadableSpan(
            name=self._name,
            context=self._context,
            parent=self._parent,
            resource=tracer.resource,
            attributes=store,
            events=self._events if self._events is not None else (),
            links=self._links if self._links is not None else (),
            kind=self._kind,
            instrumentation_info=how.info,
            status=self._status,
            start_time=self._start_time,
            end_time=self._end_time,
            instrumentation_scope=how.scope,
        ))

    def __repr__(self) -> str:
        return f'PendingSpan(name="{self._name}", context={self._context})'
