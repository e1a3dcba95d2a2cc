"""Internal errors: caught, counted, logged once per kind, never raised into user code.

Every place where agentwatch code runs inside a user's call wraps its own work and calls
:func:`report` on failure. The count is exported as ``agentwatch_internal_errors_total{component}``
by whichever metric sinks are configured (they register a listener here).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from agentwatch import forking

logger = logging.getLogger("agentwatch")

_lock = threading.Lock()
_counts: dict[str, int] = {}
_logged: set[tuple[str, str]] = set()
_MAX_LOGGED_KINDS = 1000
_listeners: list[Callable[[str], None]] = []


class ConfigurationError(ValueError):
    """Raised by :func:`agentwatch.configure` (and loaders it calls) for a bad setting."""


def report(component: str, error: BaseException | str, *, level: int = logging.WARNING) -> None:
    """Count one internal error of ``component`` and log it once per (component, kind).

    Must not raise and must not block: it is called from inside user calls.
    """
    try:
        kind = error if isinstance(error, str) else type(error).__name__
        with _lock:
            _counts[component] = _counts.get(component, 0) + 1
            first = (component, kind) not in _logged and len(_logged) < _MAX_LOGGED_KINDS
            if first:
                _logged.add((component, kind))
        for listener in tuple(_listeners):
            listener(component)
        if first:
            if isinstance(error, BaseException):
                logger.log(
                    level,
                    "agentwatch %s error (%s: %s); the call went on, further errors of this kind "
                    "are only counted",
                    component,
                    kind,
                    error,
                    exc_info=error if logger.isEnabledFor(logging.DEBUG) else None,
                )
            else:
                logger.log(level, "agentwatch %s: %s (logged once; further ones are only counted)",
                           component, error)
    except Exception:  # pragma: no cover - last line of defence
        pass


def counts() -> dict[str, int]:
    """Internal error counts by component since start (or :func:`reset`)."""
    with _lock:
        return dict(_counts)


def add_listener(listener: Callable[[str], None]) -> None:
    with _lock:
        if listener not in _listeners:
            _listeners.append(listener)


def remove_listener(listener: Callable[[str], None]) -> None:
    with _lock:
        if listener in _listeners:
            _listeners.remove(listener)


def _after_fork() -> None:
    global _lock
    _lock = threading.Lock()


forking.register(_after_fork)


def reset() -> None:
    """Forget counts and which kinds were logged (tests)."""
    with _lock:
        _counts.clear()
        _logged.clear()
