"""Bounded label values: a label never takes more than N distinct values; the rest become ``other``."""

from __future__ import annotations

import threading
from collections.abc import Callable

from agentwatch import names
from agentwatch.sanitize import safe_text

#: a label value is cut to this length (a model name, a stage name ...)
MAX_LABEL_CHARS = 128


class LabelGuard:
    """Admits the first ``limit`` distinct values of one label; folds every later one into ``other``.

    ``on_overflow`` is called (outside the lock) each time a value is folded.
    """

    __slots__ = ("_lock", "_seen", "label", "limit", "on_overflow", "overflowed")

    def __init__(self, label: str, limit: int, on_overflow: Callable[[str], None] | None = None) -> None:
        if limit < 1:
            raise ValueError("a label needs room for at least one value")
        self.label = label
        self.limit = limit
        self.on_overflow = on_overflow
        self.overflowed = 0
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str | None) -> str:
        if value in self._seen:
            return value  # type: ignore[return-value]
        if value is None or value == "":
            value = names.UNKNOWN_LABEL_VALUE
        elif not isinstance(value, str):
            value = str(value)
        if len(value) > MAX_LABEL_CHARS:
            value = value[:MAX_LABEL_CHARS]
        value = safe_text(value)  # a lone surrogate would break the whole /metrics page
        if value in self._seen:
            return value
        with self._lock:
            if value in self._seen:
                return value
            if len(self._seen) < self.limit:
                self._seen.add(value)
                return value
            self.overflowed += 1
        if self.on_overflow is not None:
            self.on_overflow(self.label)
        return names.OTHER_LABEL_VALUE

    def after_fork(self) -> None:
        """A fresh lock in a forked child (the parent's may have been held by another thread)."""
        self._lock = threading.Lock()
