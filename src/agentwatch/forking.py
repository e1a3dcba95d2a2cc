"""Fork safety for pre-fork servers (gunicorn, uWSGI, multiprocessing's ``fork`` start method).

A forked child inherits memory but only the forking thread: a lock another thread held at that
moment stays held forever, and background threads are gone. Modules that own locks or threads
register a callback here; it runs in the child right after ``os.fork()``, before any user code.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from types import MethodType

_callbacks: list[Callable[[], Callable[[], None] | None]] = []
_lock = threading.Lock()


def register(callback: Callable[[], None]) -> None:
    """Run ``callback`` in every child process right after a fork (it must not raise or block).

    A bound method is held weakly: registering ``obj.after_fork`` does not keep ``obj`` alive.
    """
    ref: Callable[[], Callable[[], None] | None]
    if isinstance(callback, MethodType):
        ref = weakref.WeakMethod(callback)
    else:
        def ref() -> Callable[[], None]:
            return callback
    with _lock:
        _callbacks[:] = [r for r in _callbacks if r() is not None]
        _callbacks.append(ref)


def _run_in_child() -> None:
    global _lock
    _lock = threading.Lock()
    for ref in tuple(_callbacks):
        callback = ref()
        if callback is None:
            continue
        try:
            callback()
        except Exception:  # pragma: no cover - a callback's bug must not kill the child
            pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_run_in_child)
