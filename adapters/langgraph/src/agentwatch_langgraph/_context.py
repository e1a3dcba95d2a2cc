"""What runs "here": making a node's span the current one for code that runs inside the node.

Spans of LangChain runs are parented by ``parent_run_id``. Code that is *not* a LangChain run
(our decorators, the OpenAI / Anthropic client wrappers, the user's own OpenTelemetry spans) only
sees the current context, so while a node, tool or retriever runs, its span is attached to the
OpenTelemetry context of the thread / task that runs it (the handler runs inline, so its start and
end callbacks execute in that very context). A model call is *not* attached (a streamed model run
spans the caller's loop body); it is published in a context variable that the core's parent
resolver reads, so an instrumented SDK client called by a LangChain chat model lends its usage to
the model's span instead of making a second one.

The resolver also covers code that runs where nothing was attached: LangChain keeps the running
config, whose callback manager knows the parent run id, in a context variable of its own.
"""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks.base import BaseCallbackManager
from langchain_core.runnables.config import var_child_runnable_config
from opentelemetry import context as otel_context

from agentwatch import parenting
from agentwatch.call import Call

if TYPE_CHECKING:
    from agentwatch_langgraph._handler import CallbackHandler

_model_call: contextvars.ContextVar[Call | None] = contextvars.ContextVar(
    "agentwatch_langgraph_model_call", default=None
)
_handler_type: type[CallbackHandler] | None = None


def attach(call: Call) -> Any:
    try:
        return otel_context.attach(parenting.context_with(call))
    except Exception:
        return None


def detach(token: Any) -> None:
    """Undo :func:`attach`, silently when the end arrives in another context than the start."""
    if token is None:
        return
    if isinstance(token, contextvars.Token):
        try:
            token.var.reset(token)
        except (ValueError, RuntimeError):
            pass
        return
    try:
        otel_context.detach(token)
    except Exception:
        pass


def publish_model_call(call: Call) -> Any:
    return _model_call.set(call)


def unpublish_model_call(token: Any) -> None:
    if token is None:
        return
    try:
        _model_call.reset(token)
    except (ValueError, RuntimeError):
        pass  # ended in another context: the stale value is ignored once the call has ended


def resolve() -> Call | None:
    """The innermost call of ours running in this thread / task (the core's resolver hook)."""
    call = _model_call.get()
    if call is not None and not call.ended:
        return call
    config = var_child_runnable_config.get()
    if not config:
        return None
    manager = config.get("callbacks")
    if not isinstance(manager, BaseCallbackManager):
        return None
    parent_id = manager.parent_run_id
    if parent_id is None or _handler_type is None:
        return None
    for handler in manager.handlers:
        if isinstance(handler, _handler_type):
            found = handler._call_for(parent_id)
            if found is not None:
                return found
    return None


def install(handler_type: type[CallbackHandler]) -> None:
    global _handler_type
    _handler_type = handler_type
    parenting.register_resolver(resolve)
