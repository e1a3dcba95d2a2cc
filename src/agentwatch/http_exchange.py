"""What the HTTP layer saw while one SDK call ran: attempts made (the SDK's own retries) and the
last response's headers.

:func:`install_http_hooks` adds two event hooks to an httpx-style client; they act only while a
recorded call runs in the same thread or task (its :class:`Exchange` is in a context variable), so
a client shared with code that is not instrumented is unaffected.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import threading
from collections.abc import Callable, Iterable
from typing import Any

from agentwatch import errors, forking, names
from agentwatch.call import Call


# --- what the HTTP layer saw during one call -------------------------------------------------------
class Exchange:
    """Attempts made, and the last response's headers, while one SDK call ran."""

    __slots__ = ("attempts", "keep", "last_headers")

    def __init__(self, keep: Iterable[str]) -> None:
        self.keep = keep
        self.attempts = 0
        self.last_headers: Any = None

    def headers(self) -> dict[str, str]:
        """The allow-listed headers of the last response."""
        found: dict[str, str] = {}
        if self.last_headers is not None:
            get = self.last_headers.get
            for name in self.keep:
                value = get(name)
                if value is not None:
                    found[name] = value
        return found

    def apply(self, call: Call, failed: bool = False) -> None:
        """When the SDK retried, or the call failed: the attempt count (after retries) and the last
        response's allow-listed headers (rate limits, ``retry-after``). A plain successful call gets
        neither, so it pays nothing for them."""
        if self.attempts > 1:
            call.set_attempts(self.attempts)
        elif not failed:
            return
        for name, value in self.headers().items():
            call.set_attribute(_header_attribute(name), (value,))


@functools.lru_cache(maxsize=256)
def _header_attribute(header: str) -> str:
    return names.HTTP_RESPONSE_HEADER_PREFIX + header


_EXCHANGE: contextvars.ContextVar[Exchange | None] = contextvars.ContextVar(
    "agentwatch_exchange", default=None
)


def _on_request(request: Any) -> None:
    exchange = _EXCHANGE.get()
    if exchange is not None:
        exchange.attempts += 1


def _on_response(response: Any) -> None:
    exchange = _EXCHANGE.get()
    if exchange is not None:
        try:
            exchange.last_headers = response.headers  # read only if the call needs them
        except Exception as exc:
            errors.report("instrumentation", exc)


async def _on_request_async(request: Any) -> None:
    _on_request(request)


async def _on_response_async(response: Any) -> None:
    _on_response(response)


_hooks_lock = threading.Lock()


def _after_fork() -> None:
    global _hooks_lock
    _hooks_lock = threading.Lock()


forking.register(_after_fork)


def install_http_hooks(http_client: Any) -> bool:
    """Add the attempt / header hooks to an httpx-style client (``event_hooks``); idempotent.

    The hooks only act while a recorded call runs in the same thread or task, so a client shared
    with code that is not instrumented is unaffected.
    """
    try:
        hooks = getattr(http_client, "event_hooks", None)
        if not isinstance(hooks, dict):
            return False
        pairs: tuple[tuple[str, Callable[[Any], Any]], ...]
        if inspect.iscoroutinefunction(getattr(http_client, "send", None)):
            pairs = (("request", _on_request_async), ("response", _on_response_async))
        else:
            pairs = (("request", _on_request), ("response", _on_response))
        with _hooks_lock:  # two threads using a new client at once must not add the hooks twice
            for kind, hook in pairs:
                found = hooks.setdefault(kind, [])
                if hook not in found:
                    found.append(hook)
        return True
    except Exception as exc:
        errors.report("instrumentation", exc)
        return False
