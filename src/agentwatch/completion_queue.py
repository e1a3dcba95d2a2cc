"""Ended calls, completed together: what a call's end sets on its span (answer, usage, price, rollups),
the span's end and the records handed to the metric sinks run for many calls back to back.

Next to a model call or a graph run, one call's completion mostly waits for code and objects the
call pushed out of the processor's caches; a batch of them runs warm. What a batch changes is only
when a span reaches its processor, never what it holds (its end time is the call's own):

* a batch is completed by the call that fills it (:data:`BATCH_SIZE`), or by a background thread
  that wakes every :data:`MAX_WAIT_S`, so an idle process still sends its last spans;
* every flush completes the waiting calls first: the span processor's ``force_flush`` and
  ``shutdown`` (so a serverless handler that flushes before it returns loses nothing), agentwatch's
  ``force_flush`` and ``shutdown``, a collection of agentwatch's Prometheus metrics (a scrape sees
  every call that ended before it), interpreter exit;
* a call that failed is completed at once (after the waiting ones, so its rollups are whole), so no
  exception, traceback or frame is kept alive for a batch.

The recorder queues a call only where nobody could tell the difference but by the timing: every
span processor is agentwatch's batching processor (whose flush completes the queue first), every
metric sink takes records late and from any thread, and content capture is off (a redaction hook
then runs on the caller's thread, as documented).
"""

from __future__ import annotations

import atexit
import threading
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from agentwatch import errors, forking

if TYPE_CHECKING:
    from agentwatch.call import Call

#: ended calls completed together; the call that fills a batch completes it
BATCH_SIZE = 64
#: the longest a call waits for its batch: a background thread completes waiting calls this often
MAX_WAIT_S = 1.0

_queues: weakref.WeakSet[CompletionQueue] = weakref.WeakSet()


class CompletionQueue:
    """Calls that ended, waiting to be completed by ``complete(call, end_ns)``, then ``after()`` once
    per batch (neither may raise)."""

    def __init__(
        self, complete: Callable[[Call, int], None], after: Callable[[], None] | None = None
    ) -> None:
        self._complete = complete
        #: run after each batch (the metric sinks apply the records the batch handed them)
        self._after = after
        self._pending: deque[tuple[Call, int]] = deque()
        self._lock = threading.RLock()  # reentrant: a sink that flushes from inside a batch
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        #: what decided whether calls may wait: the span processors and sinks it was decided for
        self._decided_for: tuple[Any, Any] = (None, None)
        self._accepting = False
        _queues.add(self)
        forking.register(self._after_fork)

    def accepts(self, tracer: Any, sinks: Sequence[Any]) -> bool:
        """Whether calls whose spans ``tracer`` starts, and whose records go to ``sinks``, may wait:
        every span processor completes waiting calls before it flushes (agentwatch's batching
        processor), and every sink takes records late, from any thread."""
        processors: Any = getattr(getattr(tracer, "span_processor", None), "_span_processors", None)
        decided_for = self._decided_for
        if processors is decided_for[0] and sinks is decided_for[1]:
            return self._accepting
        self._accepting = (
            bool(processors)
            and all(getattr(p, "completes_queued_calls", False) for p in processors)
            and all(getattr(s, "takes_late_records", False) for s in sinks)
        )
        self._decided_for = (processors, sinks)
        return self._accepting

    def __len__(self) -> int:
        return len(self._pending)

    def put(self, call: Call, end_ns: int) -> None:
        """Queue an ended call; complete the batch if this call fills it."""
        if self._closed:  # a call that outlived its configuration: completed at once
            self.flush()
            self._complete(call, end_ns)
            return
        pending = self._pending
        pending.append((call, end_ns))
        if len(pending) >= BATCH_SIZE or self._closed:  # (closed meanwhile: nothing else would come)
            # (a thread already completing a batch takes this call too: nobody waits here)
            if self._lock.acquire(blocking=False):
                try:
                    self._drain()
                finally:
                    self._lock.release()
        elif self._thread is None:
            self._start_thread()

    def flush(self) -> None:
        """Complete every waiting call now, in the order they ended. Never raises."""
        if self._pending:
            with self._lock:
                self._drain()

    def close(self) -> None:
        """Complete what waits and stop the background thread."""
        self._closed = True
        self._wake.set()
        self.flush()

    def _drain(self) -> None:
        pending = self._pending
        complete = self._complete
        while pending:  # (only the holder of the lock takes calls out, so the order holds)
            call, end_ns = pending.popleft()
            complete(call, end_ns)
        if self._after is not None:
            self._after()

    def _start_thread(self) -> None:
        with self._lock:
            if self._thread is not None or self._closed:
                return
            thread = threading.Thread(target=_run, args=(weakref.ref(self), self._wake),
                                      name="agentwatch-completion", daemon=True)
            self._thread = thread
        try:
            thread.start()
        except RuntimeError as exc:  # interpreter shutting down: the exit hook completes the rest
            errors.report("completion", exc)

    def _after_fork(self) -> None:
        """In a forked child: the parent completes its own calls; the child starts empty."""
        self._pending = deque()
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._thread = None  # (the parent's thread does not exist here: started again on use)


def _run(ref: weakref.ref[CompletionQueue], wake: threading.Event) -> None:
    """The background thread: complete waiting calls every MAX_WAIT_S, until the queue goes away."""
    while not wake.wait(MAX_WAIT_S):
        queue = ref()
        if queue is None or queue._closed or queue._wake is not wake:
            return
        try:
            queue.flush()
        except Exception as exc:  # pragma: no cover - flush reports its own failures
            errors.report("completion", exc)
        del queue


def flush_all() -> None:
    """Complete the waiting calls of every queue (span processors call this before they flush)."""
    for queue in list(_queues):
        try:
            queue.flush()
        except Exception as exc:  # pragma: no cover - flush reports its own failures
            errors.report("completion", exc)


# At interpreter exit. The tracer provider's exit hook may run before this one; it shuts down the
# span processors, and agentwatch's processor completes the waiting calls before it stops.
atexit.register(flush_all)
