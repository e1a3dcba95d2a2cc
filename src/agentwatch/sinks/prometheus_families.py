"""The Prometheus metric families of :class:`~agentwatch.sinks.prometheus.PrometheusSink`: metric
classes that apply the sink's waiting records before they are collected, and a family (a metric
plus its labelled children) that updates the children's value holders directly.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from prometheus_client import Counter, Histogram, values
from prometheus_client.metrics_core import Metric

#: prometheus-client's in-process value holder, a float under a lock (None if it ever goes away)
_MUTEX_VALUE: Any = getattr(values, "MutexValue", None)
_EXEMPLAR_EVERY_NS = 1_000_000_000


def in_process_values() -> bool:
    """Whether metric values live in this process (not in multiprocess mode's shared files)."""
    return _MUTEX_VALUE is not None and getattr(values, "ValueClass", None) is _MUTEX_VALUE


class ApplyFirst:
    """Mixed into a metric class: collecting the metric first applies its sink's waiting records."""

    before_collect: Callable[[], None] | None = None

    def collect(self) -> Iterable[Metric]:
        if self.before_collect is not None:
            self.before_collect()
        return super().collect()  # type: ignore[misc,no-any-return]  # the metric class mixed with


class BatchedCounter(ApplyFirst, Counter):
    pass


class BatchedHistogram(ApplyFirst, Histogram):
    pass


def _value_holders(child: Any, histogram: bool) -> list[Any]:
    if histogram:
        return [getattr(child, "_sum", None), *getattr(child, "_buckets", ())]
    return [getattr(child, "_value", None)]


def _has_value_holders(child: Any, histogram: bool) -> bool:
    """Whether ``child`` keeps its numbers the way prometheus-client has since 0.4 (a value holder
    with ``inc``: a locked float, or a memory-mapped one in multiprocess mode)."""
    holders = _value_holders(child, histogram)
    return len(holders) > int(histogram) and all(callable(getattr(h, "inc", None)) for h in holders)


def _plain_floats(child: Any, histogram: bool) -> bool:
    """Whether every value holder of ``child`` is prometheus-client's locked float (``MutexValue``),
    whose float the sink may add to directly while it holds its apply lock: these holders have no
    other writer then, and a reader under the holder's lock sees the float before or after."""
    return _MUTEX_VALUE is not None and all(
        type(h) is _MUTEX_VALUE and type(getattr(h, "_value", None)) is float
        for h in _value_holders(child, histogram))


class Family:
    """A metric plus a cache of its labelled children.

    Hot path: a plain update goes straight to the child's value holder (what ``Counter.inc`` and
    ``Histogram.observe`` end up doing, minus three Python calls and a linear bucket scan). In a
    batched sink, where only the holder of the apply lock updates these metrics, it adds to the
    holder's float without taking the holder's own lock. The public methods are used for updates
    carrying an exemplar, and for every update if a future prometheus-client keeps its numbers
    differently.
    """

    __slots__ = ("batched", "buckets", "children", "direct", "exemplar_ns", "floats", "metric")

    def __init__(
        self, metric: Counter | Histogram, buckets: Sequence[float] = (), batched: bool = False
    ) -> None:
        self.metric = metric
        self.buckets = tuple(buckets)
        #: updated only by the holder of the sink's apply lock (see PrometheusSink.on_completed)
        self.batched = batched
        self.children: dict[tuple[str, ...], Any] = {}
        self.exemplar_ns: dict[Any, int] = {}
        self.direct: bool | None = None  # decided on the first child
        self.floats = False  # direct, and the holders' floats are added to without their locks

    def child(self, values: tuple[str, ...]) -> Any:
        child: Any = self.children.get(values)
        if child is None:
            child = self.metric.labels(*values) if values else self.metric
            if self.direct is None:
                histogram = isinstance(self.metric, Histogram)
                self.direct = _has_value_holders(child, histogram) and (
                    not self.buckets or tuple(child._upper_bounds[:-1]) == self.buckets)
                self.floats = self.direct and self.batched and _plain_floats(child, histogram)
            self.children[values] = child
        return child

    def inc(self, values: tuple[str, ...], amount: float, trace_id: int, now_ns: int) -> None:
        """Add ``amount`` to the series of ``values``."""
        child = self.children.get(values)
        if child is None:
            child = self.child(values)
        self.inc_child(child, amount, trace_id, now_ns)

    def inc_child(self, child: Any, amount: float, trace_id: int, now_ns: int) -> None:
        """Add ``amount``; a counter's exemplar is refreshed at most once a second per series (only the
        latest one is ever exposed, and validating one costs more than the increment itself)."""
        if trace_id and now_ns - self.exemplar_ns.get(child, 0) >= _EXEMPLAR_EVERY_NS:
            self.exemplar_ns[child] = now_ns
            child.inc(amount, {"trace_id": format(trace_id, "032x")})
        elif self.floats:
            child._value._value += amount
        elif self.direct:
            child._value.inc(amount)
        else:
            child.inc(amount)

    def observe(self, values: tuple[str, ...], amount: float, trace_id: int, now_ns: int) -> None:
        """Observe ``amount`` in the series of ``values``."""
        child = self.children.get(values)
        if child is None:
            child = self.child(values)
        self.observe_child(child, amount, trace_id, now_ns)

    def observe_child(self, child: Any, amount: float, trace_id: int, now_ns: int) -> None:
        """Observe ``amount``; each bucket's exemplar is refreshed at most once a second per series."""
        bucket = bisect_left(self.buckets, amount)  # the first bound >= amount, as the client finds it
        if trace_id:
            key = (child, bucket)
            if now_ns - self.exemplar_ns.get(key, 0) >= _EXEMPLAR_EVERY_NS:
                self.exemplar_ns[key] = now_ns
                child.observe(amount, {"trace_id": format(trace_id, "032x")})
                return
        if self.floats:
            child._sum._value += amount
            child._buckets[bucket]._value += 1.0  # past the last bound: +Inf, the client's last bucket
        elif self.direct:
            child._sum.inc(amount)
            child._buckets[bucket].inc(1)
        else:
            child.observe(amount)

    def reset(self) -> None:
        self.children = {}
        self.exemplar_ns = {}
        self.direct = None
        self.floats = False
        metric: Any = self.metric
        if hasattr(metric, "_lock"):
            metric._lock = threading.Lock()
        if metric._labelnames:
            metric.clear()
        else:  # an unlabelled metric: a new value holder
            metric._metric_init()
