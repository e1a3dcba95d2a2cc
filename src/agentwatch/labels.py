"""Bounded label values: a label never takes more than N distinct values; the rest become ``other``."""

from __future__ import annotations

import threading
from collections.abc import Callable

from agentwatch import names


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
        if value is None or value == "":
            value = names.UNKNOWN_LABEL_VALUE
        elif not isinstance(value, str):
            value = str(value)
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
