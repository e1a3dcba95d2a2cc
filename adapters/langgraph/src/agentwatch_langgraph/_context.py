"""What runs "here": making a node's span the current one for code that runs inside the node.

Spans of LangChain runs are parented by ``parent_run_id``. Code that is *not* a LangChain run
(our decorators, the OpenAI / Anthropic client wrappers, the user's own OpenTelemetry spans) only
sees the current context, so when a node, tool or retriever starts, its span is attached to the
OpenTelemetry context of the thread / task that runs it (the handler runs inline, so its start
callback executes in that very context, and LangChain copies that context into the node's body).

The end callback cannot always undo that attach: on the async path LangChain runs end callbacks in
a shielded task on a *copy* of the context, so the attach outlives the node in the caller's task.
What is attached is therefore not the span itself but a :class:`ScopedSpan`: the node's span while
the node runs, and whatever was current before once it has ended -- a stale attach is harmless.

A model call is *not* attached (a streamed model run spans the caller's loop body); it is published
in a context variable that the core's parent resolver reads, so an instrumented SDK client called by
a LangChain chat model lends its usage to the model's span instead of making a second one. The
resolver also covers code that runs where nothing was attached: LangChain keeps the running config,
whose callback manager knows the parent run id, in a context variable of its own.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, final

from langchain_core.callbacks.base import BaseCallbackManager
from langchain_core.runnables.config import var_child_runnable_config
from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.trace import INVALID_SPAN, Span, SpanContext, Status, StatusCode
from opentelemetry.util import types

from agentwatch import parenting
from agentwatch.call import Call

if TYPE_CHECKING:
    from agentwatch_langgraph._handler import CallbackHandler

_model_call: contextvars.ContextVar[Call | None] = contextvars.ContextVar(
    "agentwatch_langgraph_model_call", default=None
)
_handler_type: type[CallbackHandler] | None = None
_SPAN_KEY = parenting.SPAN_KEY
_CALL_KEY = parenting.CALL_KEY


@final
class ScopedSpan(Span):
    """The current span while a call runs: the call's span until it ends, then the span that was
    current before it (so an attach that nobody could undo parents nothing to an ended span)."""

    __slots__ = ("_call", "_outer")
    _call: Call
    _outer: Span

    # ``type(x) is ScopedSpan`` rather than isinstance: Span is an ABC, whose isinstance is slow
    def __init__(self, call: Call, outer: Span) -> None:
        while type(outer) is ScopedSpan and outer._call.ended:  # keep the chain short
            outer = outer._outer
        self._call = call
        self._outer = outer

    def target(self) -> Span:
        span: Span = self
        while type(span) is ScopedSpan:
            if not span._call.ended:
                return span._call.span
            span = span._outer
        return span

    @property
    def start_time(self) -> int | None:
        return getattr(self.target(), "start_time", None)

    def get_span_context(self) -> SpanContext:
        return self.target().get_span_context()

    def is_recording(self) -> bool:
        return self.target().is_recording()

    def set_attribute(self, key: str, value: types.AttributeValue) -> None:
        self.target().set_attribute(key, value)

    def set_attributes(self, attributes: Mapping[str, types.AttributeValue]) -> None:
        self.target().set_attributes(attributes)

    def add_event(self, name: str, attributes: types.Attributes = None, timestamp: int | None = None) -> None:
        self.target().add_event(name, attributes, timestamp)

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        self.target().add_link(context, attributes)

    def update_name(self, name: str) -> None:
        self.target().update_name(name)

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        self.target().set_status(status, description)

    def record_exception(
        self,
        exception: BaseException,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        self.target().record_exception(exception, attributes, timestamp, escaped)

    def end(self, end_time: int | None = None) -> None:
        self.target().end(end_time)

    def __repr__(self) -> str:
        return f"ScopedSpan({self._call!r})"


def attach(call: Call) -> Any:
    """Make ``call`` current for the code that runs from here (see :class:`ScopedSpan`)."""
    try:
        ctx = otel_context.get_current()
        outer = ctx.get(_SPAN_KEY)
        if outer is None or (type(outer) is not ScopedSpan and not isinstance(outer, Span)):
            outer = INVALID_SPAN
        # one copy of the (small) context with both keys, where set_value would copy it twice
        return otel_context.attach(Context({**ctx, _SPAN_KEY: ScopedSpan(call, outer), _CALL_KEY: call}))
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
