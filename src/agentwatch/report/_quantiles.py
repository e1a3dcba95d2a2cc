"""Streaming quantiles in bounded memory: exact for small groups, a log-bucket sketch beyond.

Up to :data:`EXACT_LIMIT` values are kept as they are (quantiles are then exact). Past that the
values move into buckets of relative width 2 %, so an estimate is within 1 % of the true value of
its rank (the DDSketch idea), and memory depends on the range of values, not their number: about
a thousand buckets from a microsecond to an hour.

Quantiles use the nearest-rank definition: the value at rank ``ceil(q * n)`` in sorted order.
"""

from __future__ import annotations

import math
from array import array

EXACT_LIMIT = 512
RELATIVE_ACCURACY = 0.01
_GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_LOG_GAMMA = math.log(_GAMMA)


class Quantiles:
    __slots__ = ("_buckets", "_exact", "_zeros", "count")

    def __init__(self) -> None:
        self.count = 0
        self._exact: array[float] | None = array("d")
        self._buckets: dict[int, int] = {}
        self._zeros = 0

    def add(self, value: float) -> None:
        self.count += 1
        exact = self._exact
        if exact is not None:
            exact.append(value)
            if len(exact) > EXACT_LIMIT:
                self._exact = None
                for v in exact:
                    self._bucket(v)
            return
        self._bucket(value)

    def _bucket(self, value: float) -> None:
        if value <= 0 or not math.isfinite(value):
            self._zeros += 1
            return
        key = math.ceil(math.log(value) / _LOG_GAMMA)
        self._buckets[key] = self._buckets.get(key, 0) + 1

    def merge(self, other: Quantiles) -> None:
        """Add every value of ``other`` (exact values stay exact while both are small)."""
        if other._exact is not None:
            for v in other._exact:
                self.add(v)
            return
        if self._exact is not None:
            exact, self._exact = self._exact, None
            for v in exact:
                self._bucket(v)
        self.count += other.count
        self._zeros += other._zeros
        for key, n in other._buckets.items():
            self._buckets[key] = self._buckets.get(key, 0) + n

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile (0 < q <= 1), or None with no values."""
        if self.count == 0:
            return None
        rank = max(1, math.ceil(q * self.count))
        if self._exact is not None:
            return sorted(self._exact)[rank - 1]
        if rank <= self._zeros:
            return 0.0
        seen = self._zeros
        for key in sorted(self._buckets):
            seen += self._buckets[key]
            if seen >= rank:
                return 2 * _GAMMA**key / (_GAMMA + 1)
        return None  # pragma: no cover - ranks never exceed count
