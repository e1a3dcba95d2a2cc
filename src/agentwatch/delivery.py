"""Span delivery that cannot hurt the application, and an exact count of what was kept or dropped.

The OTel SDK's ``BatchSpanProcessor`` already keeps export off the caller's thread, but with a
backend that is down it drops spans silently when its queue is full, its ``force_flush`` ignores
its timeout (a hung backend blocks the caller for as long as the exporter waits), and an exporter
that raises is logged on every batch. :class:`GuardedSpanProcessor` wraps one:

* ``on_end`` never blocks: past ``max_queue_size`` spans waiting, a span is dropped and counted
  (``queue_full``) instead of being handed to a full queue;
* every batch the exporter refuses or fails on is counted (``export_failed``), an exporter that
  raises is reported once per kind through :mod:`agentwatch.errors`;
* ``force_flush`` and ``shutdown`` return within their timeout even when the exporter hangs;
  what is still queued then is counted as dropped (``shutdown``);
* after ``os.fork()`` the child starts with an empty queue and fresh locks (the SDK restarts the
  export thread itself).

Counts are process-wide: :func:`stats` reads them and metric sinks subscribe with
:func:`add_listener` (the Prometheus sink exports ``agentwatch_spans_dropped_total{reason}`` and
``agentwatch_spans_exported_total``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from agentwatch import completion_queue, errors, forking, names, span_attributes

#: listener(event, reason, count): event is "exported" or "dropped"
DeliveryListener = Callable[[str, str, int], None]

_lock = threading.Lock()
_exported = 0
_dropped: dict[str, int] = {}
_listeners: tuple[DeliveryListener, ...] = ()

_DEFAULT_QUEUE = 2048
_DEFAULT_SHUTDOWN_MILLIS = 2000


def _notify(event: str, reason: str, count: int) -> None:
    global _exported
    if count <= 0:
        return
    with _lock:
        if event == "exported":
            _exported += count
        else:
            _dropped[reason] = _dropped.get(reason, 0) + count
    for listener in _listeners:
        try:
            listener(event, reason, count)
        except Exception as exc:
            errors.report("delivery", exc)


def stats() -> tuple[int, dict[str, int]]:
    """Spans exported, and spans dropped by reason, since start (or :func:`reset`)."""
    with _lock:
        return _exported, dict(_dropped)


def reset() -> None:
    """Forget the counts (tests)."""
    global _exported
    with _lock:
        _exported = 0
        _dropped.clear()


def add_listener(listener: DeliveryListener) -> None:
    global _listeners
    with _lock:
        if listener not in _listeners:
            _listeners = (*_listeners, listener)


def remove_listener(listener: DeliveryListener) -> None:
    global _listeners
    with _lock:
        _listeners = tuple(x for x in _listeners if x != listener)


def _after_fork() -> None:
    global _lock
    _lock = threading.Lock()


forking.register(_after_fork)


def _env_int(name: str, default: int) -> int:
    try:
        value = int(os.environ.get(name, "") or default)
    except ValueError:
        return default
    return value if value > 0 else default


def _in_thread(fn: Callable[[], Any], timeout_s: float, name: str) -> bool:
    """Run ``fn`` on a daemon thread; True if it finished within ``timeout_s``."""
    done = threading.Event()

    def run() -> None:
        try:
            fn()
        except Exception as exc:
            errors.report("delivery", exc)
        finally:
            done.set()

    threading.Thread(target=run, name=name, daemon=True).start()
    return done.wait(max(timeout_s, 0.0))


class _QuietRepeats(logging.Filter):
    """Lets one record of each kind (message template and level) through per ``every_s`` seconds.

    Attached to the logger of the exporter a :class:`GuardedSpanProcessor` wraps: with the backend
    down the SDK's exporters log every failed batch and every retry (thousands of lines in a long
    outage); the counts are in ``agentwatch_spans_dropped_total`` instead.
    """

    def __init__(self, every_s: float = 600.0) -> None:
        super().__init__("agentwatch-quiet-repeats")
        self.every_s = every_s
        self._last: dict[tuple[object, int], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.msg, record.levelno)
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.every_s:
            return False
        if len(self._last) < 256:
            self._last[key] = now
        return True


def _quiet(logger_name: str) -> None:
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, _QuietRepeats) for f in logger.filters):
        logger.addFilter(_QuietRepeats())


class _CountingExporter(SpanExporter):
    """Counts what each batch amounts to; turns an exporter's exception into a counted failure."""

    def __init__(self, inner: SpanExporter, owner: GuardedSpanProcessor) -> None:
        self.inner = inner
        module = type(inner).__module__
        if module.startswith("opentelemetry."):
            _quiet(module)
        self._owner = weakref.ref(owner)
        self._inner_closed = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        n = len(spans)
        owner = self._owner()
        if owner is None or owner._take(n):
            return SpanExportResult.FAILURE  # already counted as dropped at shutdown
        try:
            result = self.inner.export(spans)
        except Exception as exc:
            errors.report("exporter", exc)
            result = SpanExportResult.FAILURE
        if result is SpanExportResult.SUCCESS:
            owner._count("exported", "", n)
        else:
            owner._count("dropped", names.DROP_EXPORT_FAILED, n)
        owner._done(n)
        return result

    def shutdown(self) -> None:
        if self._inner_closed:
            return
        self._inner_closed = True
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self.inner.force_flush(timeout_millis))


class GuardedSpanProcessor(SpanProcessor):
    """A ``BatchSpanProcessor`` with a hard queue bound, bounded flush/shutdown and drop counts.

    Its flush and shutdown first complete the calls waiting in a recorder's completion queue, so a
    recorder whose spans go only to processors of this type may complete calls in batches.

    ``max_queue_size``, ``schedule_delay_millis`` and ``max_export_batch_size`` default to the
    standard ``OTEL_BSP_*`` variables like the SDK's. ``shutdown_timeout_millis`` bounds
    :meth:`shutdown` (the SDK calls it without a timeout, also at interpreter exit).
    """

    completes_queued_calls = True

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        max_queue_size: int | None = None,
        schedule_delay_millis: float | None = None,
        max_export_batch_size: int | None = None,
        shutdown_timeout_millis: int = _DEFAULT_SHUTDOWN_MILLIS,
    ) -> None:
        self.capacity = max_queue_size or _env_int("OTEL_BSP_MAX_QUEUE_SIZE", _DEFAULT_QUEUE)
        batch = max_export_batch_size or _env_int("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512)
        self.exporter = _CountingExporter(exporter, self)
        self.shutdown_timeout_millis = shutdown_timeout_millis
        self._inner = BatchSpanProcessor(
            self.exporter,
            max_queue_size=self.capacity,
            schedule_delay_millis=schedule_delay_millis,
            max_export_batch_size=min(batch, self.capacity),
        )
        self._pending = 0  # handed to the batch processor, not yet taken by an export
        self._in_flight = 0  # taken by an export that has not returned yet
        #: this processor's own counts (the module's stats() add up every processor's)
        self.exported = 0
        self.dropped: dict[str, int] = {}
        self._lock = threading.Lock()
        self._closed = False
        forking.register(self._after_fork)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._pending = self._in_flight = 0  # the SDK empties the child's queue

    @property
    def pending(self) -> int:
        """Spans waiting in the queue (or in a batch whose export has not started)."""
        return self._pending

    @property
    def in_flight(self) -> int:
        """Spans in a batch being exported right now (counted once the export returns)."""
        return self._in_flight

    def _take(self, n: int) -> bool:
        """The export thread took ``n`` spans; True when they were already given up at shutdown."""
        with self._lock:
            self._pending = max(self._pending - n, 0)
            if not self._closed:
                self._in_flight += n
            return self._closed

    def _count(self, event: str, reason: str, n: int) -> None:
        if n <= 0:
            return
        with self._lock:
            if event == "exported":
                self.exported += n
            else:
                self.dropped[reason] = self.dropped.get(reason, 0) + n
        _notify(event, reason, n)

    def _done(self, n: int) -> None:
        with self._lock:
            self._in_flight = max(self._in_flight - n, 0)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        if not span.context.trace_flags.sampled:
            return
        with self._lock:
            refused = self._closed or self._pending >= self.capacity
            if not refused:
                self._pending += 1
            closed = self._closed
        if refused:
            self._count("dropped", names.DROP_SHUTDOWN if closed else names.DROP_QUEUE_FULL, 1)
            return
        self._inner.on_end(span)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Export what is queued; give up (returning False) after ``timeout_millis``."""
        if self._closed:
            return False
        completion_queue.flush_all()  # ended calls still waiting for their batch end their spans first
        return _in_thread(self._inner.force_flush, timeout_millis / 1000, "agentwatch-flush")

    def shutdown(self) -> None:
        """Flush what the time allows and stop; never waits longer than ``shutdown_timeout_millis``."""
        if self._closed:
            return
        completion_queue.flush_all()
        finished = _in_thread(self._inner.shutdown, self.shutdown_timeout_millis / 1000,
                              "agentwatch-shutdown")
        with self._lock:
            self._closed = True
            left, self._pending = self._pending, 0
        # Whatever is still queued will never be sent.
        self._count("dropped", names.DROP_SHUTDOWN, left)
        if not finished:
            # The export thread is stuck on a slow backend: let the exporter stop its retries.
            _in_thread(self.exporter.shutdown, 0.5, "agentwatch-exporter-shutdown")


span_attributes.quiet_on_start(GuardedSpanProcessor)
