"""The LangChain / LangGraph callback handler: callback events -> agentwatch records.

Shape of a graph run (parent/child from ``run_id`` / ``parent_run_id``, never ambient context):

* a top-level run -> ``invoke_workflow {graph}`` (child of the caller's current span, if any);
* a LangGraph task (tagged ``graph:step:N``) -> one stage span per node execution;
* a chain that turns out to run graph tasks (a subgraph, or a graph invoked inside a node) ->
  a nested ``invoke_workflow``;
* chat models / LLMs -> inference spans, tools -> ``execute_tool``, retrievers -> ``retrieval``;
* every other runnable (sequences, parsers, lambdas, edge functions) -> no span unless
  ``verbose=True``; what an edge function returns is recorded on its node (``agentwatch.route.to``).

Threading: LangGraph calls handlers from worker threads (parallel branches) and, with ``ainvoke``,
from the event loop. The handler runs *inline* (``run_inline``), so its callbacks execute in the
context of the code they report on; its state is a bounded table that a callback
updates with single dict operations (no lock on the per-callback path).
"""

from __future__ import annotations

import sys
import threading
import time
import weakref
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from langchain_core.callbacks.manager import AsyncCallbackManager
from langgraph.errors import GraphBubbleUp, ParentCommand

from agentwatch import _state, errors, names
from agentwatch.call import Call
from agentwatch.recorder import AMBIENT, Recorder
from agentwatch.records import SpanRef, Stage
from agentwatch_langgraph import _context, _mapping
from agentwatch_langgraph._leaf_events import LeafRunEvents
from agentwatch_langgraph._runs import (
    CHAIN,
    COMPONENT,
    MODEL,
    NODE,
    RETRIEVER,
    ROUTE,
    SKIP,
    TOOL,
    WORKFLOW,
    InterruptedRuns,
    Run,
    RunTable,
    key_of,
)

try:  # LangGraph >= 1.1: handlers of this type also receive on_interrupt / on_resume
    from langgraph.callbacks import GraphCallbackHandler as _Base
except ImportError:  # pragma: no cover - older LangGraph
    from langchain_core.callbacks import BaseCallbackHandler as _Base  # type: ignore[assignment]

_DEFAULT_GRAPH = "LangGraph"
_START_NODE = "__start__"


class RunAbandoned(Exception):
    """A run whose end never arrived: its top-level run ended first, or it was evicted."""


_interrupted = InterruptedRuns()
_handlers_lock = threading.Lock()
_handlers: tuple[weakref.ref[CallbackHandler], ...] = ()


def _register(handler: CallbackHandler) -> None:
    global _handlers

    def forget(ref: weakref.ref[CallbackHandler]) -> None:
        global _handlers
        with _handlers_lock:
            _handlers = tuple(r for r in _handlers if r is not ref)

    with _handlers_lock:
        _handlers = (*_handlers, weakref.ref(handler, forget))


_ASYNC_LLM_START = getattr(getattr(AsyncCallbackManager, "on_llm_start", None), "__code__", None)


def _add_routes(call: Call, targets: list[str]) -> None:
    for target in targets:
        if target not in call.route_to:  # a Send fan-out names the same node many times
            call.add_route(target)


def _is_resume_input(inputs: Any) -> bool:
    return inputs is None or getattr(inputs, "resume", None) is not None


class CallbackHandler(LeafRunEvents, _Base):
    """Turns LangGraph / LangChain runs into agentwatch spans and metrics.

    ``graph_name`` names the top-level workflow (default: the ``run_name`` of the call, else the
    compiled graph's name). ``verbose=True`` also gives internal runnables (sequences, parsers,
    lambdas, edge functions) spans of their own. One instance may serve any number of concurrent
    runs, in threads and tasks alike; ``max_runs`` / ``max_age_s`` bound the runs it tracks.
    """

    raise_error = False

    def __init__(
        self,
        graph_name: str | None = None,
        verbose: bool = False,
        *,
        max_runs: int = 10_000,
        max_age_s: float = 3600.0,
    ) -> None:
        super().__init__()
        self.graph_name = graph_name
        self.verbose = verbose
        self._runs = RunTable(max_runs, max_age_s, self._abandon)
        self._promoting = threading.Lock()  # rare: the first task of a subgraph run
        _register(self)

    # LangChain runs an inline handler in the caller's own thread / task instead of an executor
    # thread, which is what lets node spans become the current span inside the node. One exception:
    # AsyncCallbackManager.on_llm_start drops every non-inline handler's event as soon as one
    # handler is inline, so there this handler is inline only if another handler already is.
    @property
    def run_inline(self) -> bool:
        if _ASYNC_LLM_START is None:
            return True
        frame = sys._getframe(1)
        if frame.f_code.co_name == "<listcomp>" and frame.f_back is not None:
            frame = frame.f_back
        if frame.f_code is not _ASYNC_LLM_START:
            return True
        manager = frame.f_locals.get("self")
        others = getattr(manager, "handlers", ())
        return any(h is not self and getattr(h, "run_inline", False) for h in others)

    @run_inline.setter
    def run_inline(self, value: bool) -> None:  # LangChain never sets it; kept assignable for typing
        return None

    # --- state ------------------------------------------------------------------------------------
    @property
    def open_runs(self) -> int:
        """How many runs this handler is tracking right now (0 once every run has ended)."""
        return len(self._runs)

    def _call_for(self, run_id: UUID) -> Call | None:
        run = self._runs.get(run_id)
        if run is None or run.call is None or run.call.ended:
            return None
        return run.call

    def _parent(self, run_id: UUID, parent_run_id: UUID | None) -> tuple[Run | None, Call | Any]:
        """The parent run (if we know it) and the parent to open a span under; ``None`` parent
        means "skip this run": another of our handlers records it (two handlers on one run)."""
        parent = self._runs.get(parent_run_id)
        if parent is not None:
            if parent.kind == SKIP:
                return parent, None
            return parent, parent.call if parent.call is not None else AMBIENT
        # A top-level run, as far as this handler knows: unless another handler of ours already
        # tracks it (or its parent), in which case that one records it.
        key = parent_run_id if parent_run_id is not None else run_id
        for ref in _handlers:
            other = ref()
            if other is not None and other is not self and other._runs.get(key) is not None:
                return None, None
        return None, AMBIENT

    def _skip(self, recorder: Recorder, run_id: UUID, parent: Run | None) -> None:
        self._add(recorder, run_id, SKIP, None, parent, time.time_ns(), False)

    def _add(
        self,
        recorder: Recorder,
        run_id: UUID,
        kind: int,
        call: Call | None,
        parent: Run | None,
        start_ns: int,
        own: bool = True,
    ) -> Run:
        root = parent.root if parent is not None else None
        run = Run(key_of(run_id), kind, call, recorder, root, start_ns, own)
        self._runs.add(run)
        return run

    # --- chains: graphs, nodes, edges, everything else ------------------------------------------
    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        recorder = _state.recorder
        if recorder is None:
            return
        try:
            now = time.time_ns()
            parent, parent_call = self._parent(run_id, parent_run_id)
            if parent_call is None:
                self._skip(recorder, run_id, parent)
                return
            name = kwargs.get("name")
            if parent is None:
                self._start_workflow(recorder, run_id, inputs, metadata, name, now)
                return
            if metadata is not None and "langgraph_node" in metadata:
                node = str(metadata["langgraph_node"])
                if _mapping.is_node_run(tags, metadata):  # a task the graph's loop scheduled
                    if node != _START_NODE:
                        workflow = self._workflow_of(parent, metadata)
                        self._start_node(recorder, run_id, workflow, parent, node, metadata, now)
                        return
                elif (
                    parent.kind == NODE
                    and parent.node is not None
                    and name == node
                    and metadata.get("langgraph_checkpoint_ns") not in (None, parent.ns)
                ):  # a functional-API @task called from inside a node (an @entrypoint)
                    self._start_node(recorder, run_id, parent.node, parent, node, metadata, now)
                    return
            self._start_chain(recorder, run_id, parent, parent_call, tags, name, now)
        except Exception as exc:
            errors.report(COMPONENT, exc)

    def _start_chain(
        self,
        recorder: Recorder,
        run_id: UUID,
        parent: Run,
        parent_call: Call | Any,
        tags: list[str] | None,
        name: Any,
        now: int,
    ) -> None:
        """Any other runnable: no span of its own unless verbose (an edge function routes its node)."""
        kind = ROUTE if parent.kind == NODE and _mapping.is_writer_step(tags) else CHAIN
        if self.verbose:
            label = str(name) if name else "chain"
            call = recorder.start(Stage(name=label, graph=None), parent_call, start_ns=now)
            run = self._add(recorder, run_id, kind, call, parent, now)
        else:
            run = self._add(recorder, run_id, kind, parent_call, parent, now, False)
        run.name = str(name) if name else None
        if kind == ROUTE:
            run.node = parent

    def _start_workflow(
        self,
        recorder: Recorder,
        run_id: UUID,
        inputs: Any,
        metadata: dict[str, Any] | None,
        name: Any,
        now: int,
    ) -> None:
        graph = self.graph_name or (str(name) if name else _DEFAULT_GRAPH)
        thread = _mapping.thread_id(metadata)
        links: tuple[SpanRef, ...] = ()
        if thread is not None and _is_resume_input(inputs):
            ref = _interrupted.get(graph, thread)
            if ref is not None:
                links = (ref,)
        call = recorder.start(_mapping.workflow_record(graph, thread, links), AMBIENT, start_ns=now)
        run = self._add(recorder, run_id, WORKFLOW, call, None, now)
        run.graph = graph
        run.thread = thread
        run.name = graph
        run.attempts = {}

    def _workflow_of(self, parent: Run, metadata: Mapping[str, Any]) -> Run:
        """The graph run a task belongs to: its parent (the graph's own run, seen as a workflow, or a
        chain that now turns out to be a graph)."""
        if parent.kind == WORKFLOW:
            return parent
        if parent.kind == CHAIN:
            return self._promote(parent, metadata)
        return parent.node if parent.kind == NODE and parent.node is not None else parent

    def _promote(self, chain: Run, metadata: Mapping[str, Any]) -> Run:
        """A chain that runs graph tasks is a (sub)graph run: give it its workflow span now."""
        with self._promoting:
            if chain.kind == WORKFLOW:
                return chain
            graph = chain.name or _DEFAULT_GRAPH
            thread = _mapping.thread_id(metadata)
            parent_call = chain.call
            call = chain.recorder.start(
                _mapping.workflow_record(graph, thread, ()),
                parent_call if parent_call is not None else AMBIENT,
                start_ns=chain.start_ns,
            )
            if chain.own:
                chain.outer = chain.call
            chain.call = call
            chain.own = True
            chain.graph = graph
            chain.thread = thread
            chain.attempts = {}
            chain.kind = WORKFLOW
            return chain

    def _start_node(
        self,
        recorder: Recorder,
        run_id: UUID,
        workflow: Run,
        parent: Run,
        node: str,
        metadata: Mapping[str, Any],
        now: int,
    ) -> None:
        step = metadata.get("langgraph_step")
        ns = metadata.get("langgraph_checkpoint_ns")
        attempt = 1
        if isinstance(ns, str):
            # attempts of one task run one after the other (only distinct tasks run in parallel),
            # so this read-modify-write needs no lock
            attempts = workflow.attempts
            if attempts is not None:  # made with the workflow run, before any of its tasks
                attempt = attempts.get(ns, 0) + 1
                attempts[ns] = attempt
        record = _mapping.stage_record(
            node,
            workflow.graph,
            step if type(step) is int or (isinstance(step, int) and not isinstance(step, bool)) else None,
            attempt if attempt > 1 else None,
        )
        call = recorder.start(record, parent.call, start_ns=now)
        run = Run(key_of(run_id), NODE, call, recorder, parent.root, now, True)
        self._runs.add(run)
        run.node = workflow
        run.name = node
        run.ns = ns if isinstance(ns, str) else None
        run.ctx_token = _context.attach(call)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        run = self._runs.pop(run_id)
        if run is None or run.kind == SKIP:
            return
        try:
            self._chain_end(run, outputs)
        except Exception as exc:
            errors.report(COMPONENT, exc)

    def _chain_end(self, run: Run, outputs: Any) -> None:
        kind = run.kind
        call = run.call
        if kind == NODE:
            _context.detach(run.ctx_token)
            assert call is not None
            _add_routes(call, _mapping.command_targets(outputs))
        elif kind == ROUTE:
            node = run.node
            if node is not None and node.call is not None:
                _add_routes(node.call, _mapping.route_targets(outputs))
        elif kind == WORKFLOW:
            assert call is not None
            if run.interrupted or (isinstance(outputs, Mapping) and "__interrupt__" in outputs):
                call.set_outcome(names.OUTCOME_INTERRUPTED)
            self._end_workflow(run, None)
            return
        if run.own and call is not None:
            run.recorder.finish(call)

    on_chain_error = LeafRunEvents._run_error

    def _fail(self, run: Run, error: BaseException) -> None:
        """End a run that raised: control flow (interrupt, Command to a parent) is not a failure."""
        call = run.call
        if run.kind == NODE or run.kind in (TOOL, RETRIEVER):
            _context.detach(run.ctx_token)
        elif run.kind == MODEL:
            _context.unpublish_model_call(run.var_token)
        if isinstance(error, GraphBubbleUp):
            interrupted = not isinstance(error, ParentCommand)
            if run.own and call is not None:
                if interrupted:
                    call.set_outcome(names.OUTCOME_INTERRUPTED)
                elif run.kind == NODE and error.args:
                    _add_routes(call, _mapping.command_targets(error.args[0]))
            if interrupted and run.kind == NODE and run.node is not None:
                run.node.interrupted = True
            if run.kind == WORKFLOW:
                self._end_workflow(run, None)
            elif run.own and call is not None:
                run.recorder.finish(call)
            return
        if run.kind == WORKFLOW:
            self._end_workflow(run, error)
        elif run.own and call is not None:
            run.recorder.fail(call, error)

    def _end_workflow(self, run: Run, error: BaseException | None) -> None:
        call = run.call
        assert call is not None
        if run.root is run:
            for child in self._runs.pop_descendants(run):
                self._abandon(child, error)
        if error is None:
            run.recorder.finish(call)
        else:
            run.recorder.fail(call, error)
        if run.outer is not None:
            if error is None:
                run.recorder.finish(run.outer)
            else:
                run.recorder.fail(run.outer, error)
        if run.thread is not None and run.root is run:
            if call.outcome == names.OUTCOME_INTERRUPTED:
                _interrupted.put(run.graph, run.thread, call.span_ref)
            else:
                _interrupted.discard(run.graph, run.thread)

    def _abandon(self, run: Run, error: BaseException | None) -> None:
        """End a run whose own end never came (its top-level run ended, or it was evicted)."""
        try:
            if run.kind in (NODE, TOOL, RETRIEVER):
                _context.detach(run.ctx_token)
            elif run.kind == MODEL:
                _context.unpublish_model_call(run.var_token)
            if run.kind == WORKFLOW and run.root is run:
                for child in self._runs.pop_descendants(run):
                    self._abandon(child, error)
            reason = (
                error
                if error is not None
                else RunAbandoned("the run ended before this part reported its end")
            )
            if run.own and run.call is not None:
                run.recorder.fail(run.call, reason)
            if run.outer is not None:
                run.recorder.fail(run.outer, reason)
        except Exception as exc:
            errors.report(COMPONENT, exc)

    # --- graph lifecycle (GraphCallbackHandler) ----------------------------------------------------
    def on_interrupt(self, event: Any) -> None:
        run = self._runs.get(getattr(event, "run_id", None))
        if run is not None and run.kind == WORKFLOW:
            run.interrupted = True

    def on_resume(self, event: Any) -> None:
        return None

    # --- housekeeping -------------------------------------------------------------------------------
    def sweep(self) -> None:
        """End and forget runs older than ``max_age_s`` now (this also happens as runs start)."""
        try:
            self._runs.sweep()
        except Exception as exc:
            errors.report(COMPONENT, exc)

    def close(self) -> None:
        """End every run still open (as abandoned) and forget them."""
        try:
            runs = self._runs.clear()
            for run in reversed(runs):
                self._abandon(run, None)
        except Exception as exc:
            errors.report(COMPONENT, exc)

    def __repr__(self) -> str:
        return f"<agentwatch CallbackHandler graph_name={self.graph_name!r} open_runs={len(self._runs)}>"


_context.install(CallbackHandler)
