"""``LangGraphInstrumentor``: the callback handler on every graph run, without changing user code.

Every ``invoke`` / ``ainvoke`` / ``batch`` / ``stream`` / ``astream`` of a compiled graph goes
through ``Pregel.stream`` or ``Pregel.astream``; the instrumentor wraps those two methods so the
run's config carries one shared :class:`CallbackHandler` (unless the run already has one of ours,
given by the caller or inherited from an enclosing graph). ``uninstrument()`` puts them back.
Registered under the ``opentelemetry_instrumentor`` entry point, so ``opentelemetry-instrument``
finds it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection
from typing import Any

from langchain_core.callbacks.base import BaseCallbackHandler, BaseCallbackManager
from langchain_core.runnables.config import var_child_runnable_config
from langgraph.pregel import Pregel
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from agentwatch import errors
from agentwatch_langgraph._handler import CallbackHandler
from agentwatch_langgraph._runs import COMPONENT

_INSTRUMENTS = ("langgraph >= 1.0, < 2",)
_METHODS = ("stream", "astream")


def _has_ours(callbacks: Any) -> bool:
    if callbacks is None:
        return False
    if isinstance(callbacks, BaseCallbackManager):
        handlers: Any = (*callbacks.handlers, *callbacks.inheritable_handlers)
    elif isinstance(callbacks, (list, tuple)):
        handlers = callbacks
    else:
        handlers = (callbacks,)
    return any(isinstance(h, CallbackHandler) for h in handlers)


def with_handler(config: Any, handler: CallbackHandler) -> Any:
    """``config`` with ``handler`` among its callbacks (the same object when nothing is needed)."""
    try:
        if config is not None and not isinstance(config, dict):
            return config
        callbacks = config.get("callbacks") if config else None
        if callbacks is None:
            inherited = var_child_runnable_config.get()
            if inherited:
                callbacks = inherited.get("callbacks")
        if _has_ours(callbacks):
            return config
        new: dict[str, Any] = dict(config) if config else {}
        if callbacks is None:
            new["callbacks"] = [handler]
        elif isinstance(callbacks, BaseCallbackManager):
            manager = callbacks.copy()
            manager.add_handler(handler, inherit=True)
            new["callbacks"] = manager
        elif isinstance(callbacks, (list, tuple)):
            new["callbacks"] = [*callbacks, handler]
        elif isinstance(callbacks, BaseCallbackHandler):
            new["callbacks"] = [callbacks, handler]
        else:
            return config
        return new
    except Exception as exc:
        errors.report(COMPONENT, exc)
        return config


def _wrap(original: Callable[..., Any], handler: CallbackHandler) -> Callable[..., Any]:
    @functools.wraps(original)
    def method(self: Any, input: Any, config: Any = None, *args: Any, **kwargs: Any) -> Any:
        return original(self, input, with_handler(config, handler), *args, **kwargs)

    method.__agentwatch_original__ = original  # type: ignore[attr-defined]
    return method


class LangGraphInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Attach agentwatch's :class:`CallbackHandler` to every LangGraph run in the process.

    ``instrument(graph_name=None, verbose=False, configure=True, tracer_provider=None,
    meter_provider=None)``: when agentwatch is not configured yet and ``configure`` is true, it
    calls :func:`agentwatch.configure` with the given providers (the global ones otherwise).
    """

    _handler: CallbackHandler | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return _INSTRUMENTS

    @property
    def handler(self) -> CallbackHandler | None:
        """The handler attached to graph runs while instrumented."""
        return self._handler

    def _instrument(self, **kwargs: Any) -> None:
        from agentwatch import config

        config.configure_for_instrumentor(kwargs, COMPONENT)
        handler = CallbackHandler(graph_name=kwargs.get("graph_name"), verbose=bool(kwargs.get("verbose")))
        self._handler = handler
        for name in _METHODS:
            original = Pregel.__dict__[name]
            setattr(Pregel, name, _wrap(original, handler))

    def _uninstrument(self, **kwargs: Any) -> None:
        for name in _METHODS:
            current = Pregel.__dict__.get(name)
            original = getattr(current, "__agentwatch_original__", None)
            if original is not None:
                setattr(Pregel, name, original)
        self._handler = None
