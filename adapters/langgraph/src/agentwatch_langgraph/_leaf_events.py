"""The callbacks of a graph's leaf runs, mixed into :class:`~agentwatch_langgraph.CallbackHandler`:
chat models and LLMs (inference spans), tools (``execute_tool``) and retrievers (``retrieval``).

Each start opens its span under the parent run's span and keeps the run in the handler's table;
each end reads what the run produced (usage, answer model, documents) onto its call and ends it.
What these runs share with chains (the run table, finding the parent, ending a run that raised)
stays in the handler, as LangChain's own handler base splits its events by run type.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

from langchain_core.messages import BaseMessage
from langchain_core.outputs import LLMResult

from agentwatch import _state, errors, names
from agentwatch.call import Call
from agentwatch.recorder import Recorder
from agentwatch_langgraph import _context, _mapping
from agentwatch_langgraph._runs import COMPONENT, MODEL, RETRIEVER, SKIP, TOOL, Run, RunTable


class LeafRunEvents:
    """Model, tool and retriever callbacks; the handler provides the run table and helpers below."""

    _runs: RunTable

    if TYPE_CHECKING:
        def _parent(self, run_id: UUID, parent_run_id: UUID | None) -> tuple[Run | None, Call | Any]: ...

        def _skip(self, recorder: Recorder, run_id: UUID, parent: Run | None) -> None: ...

        def _add(self, recorder: Recorder, run_id: UUID, kind: int, call: Call | None, parent: Run | None,
                 start_ns: int, own: bool = True) -> Run: ...

        def _fail(self, run: Run, error: BaseException) -> None: ...

    def _run_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """A run that raised: a model, tool or retriever here, a chain in the handler."""
        run = self._runs.pop(run_id)
        if run is None or run.kind == SKIP:
            return
        try:
            self._fail(run, error)
        except Exception as exc:
            errors.report(COMPONENT, exc)

    on_llm_error = on_tool_error = on_retriever_error = _run_error

    # --- models -------------------------------------------------------------------------------------
    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: list[list[BaseMessage]],
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
            content = _mapping.messages_content(messages) if recorder.capture_content else None
            self._model_start(
                recorder, run_id, parent_run_id, serialized, metadata, kwargs, names.OP_CHAT, content
            )
        except Exception as exc:
            errors.report(COMPONENT, exc)

    def on_llm_start(
        self,
        serialized: dict[str, Any] | None,
        prompts: list[str],
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
            content = list(prompts) if recorder.capture_content else None
            self._model_start(
                recorder,
                run_id,
                parent_run_id,
                serialized,
                metadata,
                kwargs,
                names.OP_TEXT_COMPLETION,
                content,
            )
        except Exception as exc:
            errors.report(COMPONENT, exc)

    def _model_start(
        self,
        recorder: Recorder,
        run_id: UUID,
        parent_run_id: UUID | None,
        serialized: Any,
        metadata: dict[str, Any] | None,
        kwargs: dict[str, Any],
        operation: str,
        content: Any,
    ) -> None:
        now = time.time_ns()
        parent, parent_call = self._parent(run_id, parent_run_id)
        if parent_call is None:
            self._skip(recorder, run_id, parent)
            return
        record = _mapping.inference_record(
            serialized, metadata, kwargs.get("invocation_params"), operation=operation, input_messages=content
        )
        call = recorder.start(record, parent_call, start_ns=now)
        run = self._add(recorder, run_id, MODEL, call, parent, now)
        run.provider = record.provider
        run.var_token = _context.publish_model_call(call)

    def on_llm_new_token(
        self,
        token: Any,
        *,
        chunk: Any = None,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            run = self._runs.get(run_id)
            if run is None or run.call is None:
                return
            call = run.call
            if call.first_chunk_ns is None:
                call.mark_first_chunk(time.time_ns())
                call.set_attribute(names.GEN_AI_REQUEST_STREAM, True)
        except Exception as exc:
            errors.report(COMPONENT, exc)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        run = self._runs.pop(run_id)
        if run is None or run.kind == SKIP:
            return
        try:
            _context.unpublish_model_call(run.var_token)
            call = run.call
            assert call is not None
            _mapping.read_llm_result(call, response, run.provider)
            if run.recorder.capture_content:
                generation = _mapping._first_generation(response)
                if generation is not None:
                    call.set_output(getattr(generation, "text", None))
            run.recorder.finish(call)
        except Exception as exc:
            errors.report(COMPONENT, exc)

    # --- tools --------------------------------------------------------------------------------------
    def on_tool_start(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
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
            arguments = (inputs if inputs is not None else input_str) if recorder.capture_content else None
            record = _mapping.tool_record(
                serialized, kwargs.get("name"), kwargs.get("tool_call_id"), arguments
            )
            call = recorder.start(record, parent_call, start_ns=now)
            run = self._add(recorder, run_id, TOOL, call, parent, now)
            run.ctx_token = _context.attach(call)
        except Exception as exc:
            errors.report(COMPONENT, exc)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        run = self._runs.pop(run_id)
        if run is None or run.kind == SKIP:
            return
        try:
            _context.detach(run.ctx_token)
            call = run.call
            assert call is not None
            if _mapping.tool_failed(output):
                call.set_outcome(names.OUTCOME_ERROR)
                call.error_type = "ToolError"
            if run.recorder.capture_content:
                call.set_output(_mapping.tool_output_content(output))
            run.recorder.finish(call)
        except Exception as exc:
            errors.report(COMPONENT, exc)

    # --- retrievers ---------------------------------------------------------------------------------
    def on_retriever_start(
        self,
        serialized: dict[str, Any] | None,
        query: str,
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
            record = _mapping.retriever_record(
                serialized, kwargs.get("name"), metadata, query if recorder.capture_content else None
            )
            call = recorder.start(record, parent_call, start_ns=now)
            run = self._add(recorder, run_id, RETRIEVER, call, parent, now)
            run.ctx_token = _context.attach(call)
        except Exception as exc:
            errors.report(COMPONENT, exc)

    def on_retriever_end(self, documents: Sequence[Any], *, run_id: UUID, **kwargs: Any) -> None:
        run = self._runs.pop(run_id)
        if run is None or run.kind == SKIP:
            return
        try:
            _context.detach(run.ctx_token)
            call = run.call
            assert call is not None
            _mapping.read_documents(call, documents)
            if run.recorder.capture_content:
                call.set_output([getattr(d, "page_content", d) for d in documents])
            run.recorder.finish(call)
        except Exception as exc:
            errors.report(COMPONENT, exc)
