"""Bounded bookkeeping of the LangChain runs in flight: run id -> what we opened for it.

Every entry is removed when its run ends or fails. Runs that never end (a generator dropped
without being closed, a crashed worker) cannot pile up: the table holds at most ``max_runs``
entries and drops entries older than ``max_age_s``; whatever it drops is ended as abandoned.
When a top-level run ends, the entries still open below it are ended with it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any
from uuid import UUID

from agentwatch.call import Call
from agentwatch.recorder import Recorder
from agentwatch.records import SpanRef

# kinds of run
#: what errors caught in this adapter are counted under (agentwatch_internal_errors_total)
COMPONENT = "langgraph"

WORKFLOW = 1  # a graph (or top-level chain) run: invoke_workflow span
NODE = 2  # one execution of a graph node: stage span
MODEL = 3  # chat model / LLM: inference span
TOOL = 4  # execute_tool span
RETRIEVER = 5  # retrieval span
CHAIN = 6  # internal runnable: no span of its own unless verbose
ROUTE = 7  # a node's edge function (routing decision): no span unless verbose
SKIP = 8  # a run another of our handlers records (two handlers on one run): nothing, nor below it

_SWEEP_EVERY = 512


class Run:
    """One run in flight. ``call`` is the call its children nest under: its own, or (for a run
    without a span) the nearest ancestor's."""

    __slots__ = (
        "attempts",
        "call",
        "children",
        "ctx_token",
        "graph",
        "interrupted",
        "key",
        "kind",
        "name",
        "node",
        "ns",
        "outer",
        "own",
        "provider",
        "recorder",
        "root",
        "start_ns",
        "thread",
        "var_token",
    )

    def __init__(
        self,
        key: Any,
        kind: int,
        call: Call | None,
        recorder: Recorder,
        root: Run | None,
        start_ns: int,
        own: bool,
    ) -> None:
        self.key = key  # the run id as an int (UUID hashing is Python-level and slow)
        self.kind = kind
        self.call = call
        self.recorder = recorder
        self.root: Run = root if root is not None else self
        self.start_ns = start_ns
        self.own = own
        self.name: str | None = None
        self.graph: str | None = None
        self.thread: str | None = None
        self.provider: str | None = None
        self.node: Run | None = None  # ROUTE: the node it routes from; NODE: its workflow
        self.ns: str | None = None  # NODE: the task's checkpoint namespace
        self.outer: Call | None = None  # a chain's own (verbose) span, when the chain became a workflow
        self.ctx_token: Any = None  # OTel context token attached while a node/tool/retriever runs
        self.var_token: Any = None  # our context variable token while a model call runs
        self.interrupted = False
        self.attempts: dict[str, int] | None = None  # WORKFLOW: executions per task namespace
        self.children: dict[Any, None] | None = {} if root is None else None  # root: runs open below


Closer = Callable[[Run, BaseException | None], None]


def key_of(run_id: UUID | Any) -> Any:
    """The table key of a run id: its 128-bit int (hashed in C, unlike a UUID)."""
    try:
        return run_id.int
    except AttributeError:
        return run_id


class RunTable:
    """Thread-safe run id -> :class:`Run`, bounded in size and age."""

    def __init__(self, max_runs: int, max_age_s: float, closer: Closer) -> None:
        self._runs: dict[Any, Run] = {}
        self._lock = threading.Lock()
        self._max_runs = max(int(max_runs), 1)
        self._max_age_ns = int(max_age_s * 1e9)
        self._closer = closer
        self._added = 0

    def __len__(self) -> int:
        return len(self._runs)

    def get(self, run_id: UUID | None) -> Run | None:
        key: Any
        try:
            key = run_id.int  # type: ignore[union-attr]
        except AttributeError:
            key = run_id
        return self._runs.get(key)

    # add / pop / get take no lock: each is one or two single dict operations, atomic on their own
    # (the GIL, or the per-object locks of a free-threaded build). Only what walks the table or a
    # root's children (the sweep, ending a root's descendants, clear) holds the lock, and walks a
    # copy of the keys, so a run added meanwhile is never lost: at worst it ends on its own.
    def add(self, run: Run) -> None:
        key = run.key
        root = run.root
        self._runs[key] = run
        if root is not run and root.children is not None:
            root.children[key] = None
        self._added = added = self._added + 1  # a lost increment only delays a sweep
        if added % _SWEEP_EVERY and len(self._runs) <= self._max_runs:
            return
        with self._lock:
            victims = self._expired_locked(run.start_ns)
        if victims:
            self._close(victims, None)

    def pop(self, run_id: UUID) -> Run | None:
        key: Any
        try:
            key = run_id.int
        except AttributeError:
            key = run_id
        run = self._runs.pop(key, None)
        if run is not None:
            root = run.root
            if root is not run and root.children is not None:
                root.children.pop(key, None)
        return run

    def pop_descendants(self, root: Run) -> list[Run]:
        """Remove and return the runs still open below a top-level run (most recent first)."""
        children = root.children
        if not children:
            return []
        with self._lock:
            keys = list(children)
            for key in keys:
                children.pop(key, None)
            pop = self._runs.pop
            found = [r for r in (pop(k, None) for k in keys) if r is not None]
        found.reverse()
        return found

    def _expired_locked(self, now_ns: int) -> list[Run]:
        victims: list[Run] = []
        runs = self._runs
        oldest_allowed = now_ns - self._max_age_ns
        while runs:
            try:
                key = next(iter(runs))
            except (StopIteration, RuntimeError):  # emptied meanwhile
                break
            run = runs.get(key)
            if run is None:  # ended meanwhile
                continue
            if len(runs) <= self._max_runs and run.start_ns >= oldest_allowed:
                break
            if runs.pop(key, None) is None:
                continue
            victims.append(run)
            root = run.root
            if root is run:
                children = run.children
                if children:
                    keys = list(children)
                    for k in keys:
                        children.pop(k, None)
                    victims.extend(r for r in (runs.pop(k, None) for k in keys) if r is not None)
            elif root.children is not None:
                root.children.pop(key, None)
        return victims

    def _close(self, victims: list[Run], error: BaseException | None) -> None:
        for run in reversed(victims):
            self._closer(run, error)

    def sweep(self) -> None:
        """Drop what is too old now (also done every few hundred new runs)."""
        with self._lock:
            victims = self._expired_locked(time.time_ns())
        if victims:
            self._close(victims, None)

    def clear(self) -> list[Run]:
        with self._lock:
            runs = list(self._runs.values())
            for run in runs:
                self._runs.pop(run.key, None)
        return runs


class InterruptedRuns:
    """(graph, thread_id) -> span of the last interrupted run of that graph on that thread, for the
    link from the run that resumes it. Process-wide (a new handler per request still links), bounded."""

    def __init__(self, max_threads: int = 10_000) -> None:
        self._refs: OrderedDict[tuple[str | None, str], SpanRef] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_threads

    def get(self, graph: str | None, thread: str) -> SpanRef | None:
        return self._refs.get((graph, thread))

    def put(self, graph: str | None, thread: str, ref: SpanRef) -> None:
        key = (graph, thread)
        with self._lock:
            self._refs[key] = ref
            self._refs.move_to_end(key)
            while len(self._refs) > self._max:
                self._refs.popitem(last=False)

    def discard(self, graph: str | None, thread: str) -> None:
        key = (graph, thread)
        if key in self._refs:
            with self._lock:
                self._refs.pop(key, None)
