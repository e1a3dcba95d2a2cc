"""Where a new call belongs in the trace, without the core importing any framework.

Three things can be "the current parent" of a call that starts now:

* the OTel current span (our decorators attach theirs; user code attaches its own);
* the agentwatch call stored in the OTel context next to it (for cost and token rollups);
* a call an adapter knows is running on this thread or task, although nothing attached it to
  the context (a LangGraph node is opened and closed by callbacks, so it never is).

Adapters register a *resolver*: a plain callable that returns the innermost call it knows is
running here, or ``None``. Of all candidates the most recently started one is the innermost,
because every candidate is an ancestor of the code running now.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from opentelemetry import context as otel_context
from opentelemetry import trace

from agentwatch import forking

if TYPE_CHECKING:
    from agentwatch.call import Call

Resolver = Callable[[], "Call | None"]

CALL_KEY = otel_context.create_key("agentwatch-call")
#: the key under which the OTel API keeps the current span (it offers no public name for it)
SPAN_KEY: str = next(iter(trace.set_span_in_context(trace.INVALID_SPAN, otel_context.Context())))

_lock = threading.Lock()
_resolvers: tuple[Resolver, ...] = ()


def _after_fork() -> None:
    global _lock
    _lock = threading.Lock()


forking.register(_after_fork)


def register_resolver(resolver: Resolver) -> None:
    """Let an adapter say which of its calls is running in the current thread / task."""
    global _resolvers
    with _lock:
        if resolver not in _resolvers:
            _resolvers = (*_resolvers, resolver)


def unregister_resolver(resolver: Resolver) -> None:
    global _resolvers
    with _lock:
        _resolvers = tuple(r for r in _resolvers if r is not resolver)


def context_with(call: Call, base: otel_context.Context | None = None) -> otel_context.Context:
    """An OTel context whose current span is ``call``'s span and whose agentwatch call is ``call``
    (one copy of ``base``, or of the current context, instead of one per value)."""
    if base is None:
        base = otel_context.get_current()
    return otel_context.Context({**base, SPAN_KEY: call.span, CALL_KEY: call})


def resolve() -> tuple[Call | None, otel_context.Context | None]:
    """The innermost running agentwatch call, and the OTel context a new span should start in.

    The context is ``None`` when the current context is already right (the common case).
    """
    ctx = otel_context.get_current()
    call: Call | None = ctx.get(CALL_KEY)  # type: ignore[assignment]
    if call is not None and call.ended:
        call = None
    from_resolver = False
    for resolver in _resolvers:
        try:
            candidate = resolver()
        except Exception:  # an adapter's bug must not break the call
            continue
        if candidate is None or candidate.ended:
            continue
        if call is None or candidate.start_ns > call.start_ns:
            call = candidate
            from_resolver = True
    if call is None or not from_resolver:
        return call, None
    # The adapter's call is deeper than anything attached to the context, unless the current span
    # is a user's span opened inside that call (then the span stays the parent, the call the rollup target).
    span = trace.get_current_span(ctx)
    span_start = getattr(span, "start_time", None)
    if span is not call.span and isinstance(span_start, int) and span_start > call.start_ns:
        return call, None
    return call, context_with(call, ctx)
