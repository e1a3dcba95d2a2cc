"""Keeps completed records in memory, for tests and for the demo's summary."""

from __future__ import annotations

import threading
from collections import deque

from agentwatch.records import Completed


class MemorySink:
    """Holds the last ``maxlen`` completed records (thread-safe)."""

    def __init__(self, maxlen: int = 100_000) -> None:
        self._items: deque[Completed] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

    def on_completed(self, completed: Completed) -> None:
        with self._lock:
            self._items.append(completed)

    @property
    def completed(self) -> list[Completed]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
