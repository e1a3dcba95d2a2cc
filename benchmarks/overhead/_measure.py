"""Shared measuring loop for the overhead benchmarks (see README.md for the output protocol).

Variants of one case are timed call by call, interleaved: every round runs a batch of each variant
in a fresh random order, so a busy moment of the machine hits all of them alike. Each result is one
JSON line with the keys of the protocol.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

Call = Callable[[int], Any]


@dataclass
class Variant:
    name: str
    fn: Call
    #: spans exported per call, read after the run (None: not applicable)
    spans: Callable[[], int] | None = None
    #: the case's reference for ``floor_ratio`` (e.g. a bare OTel span)
    floor: bool = False
    #: another project's instrumentation; the fastest one is the reference for ``peer_ratio``
    peer: bool = False
    #: run before / after each batch of this variant (e.g. switch agentwatch off for the no-op variant)
    enter: Callable[[], None] | None = None
    leave: Callable[[], None] | None = None
    samples: list[int] = field(default_factory=list)
    #: mean ns per call of each timed round (whatever some calls pay for the others, such as a batch
    #: of queued metric updates or a garbage collection, is spread over the round's calls)
    round_means: list[float] = field(default_factory=list)
    calls: int = 0
    #: the garbage collector's time (ns, by the case's clock) during this variant's timed calls, and
    #: its full collections then: whoever allocates when a threshold is crossed pays for it
    gc_ns: int = 0
    full_gcs: int = 0


class _Collector:
    """Time the garbage collector spends, on the case's clock (through ``gc.callbacks``)."""

    def __init__(self) -> None:
        self.clock: Callable[[], int] = time.perf_counter_ns
        self.ns = 0
        self.full = 0
        self._started = 0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = self.clock()
        else:
            self.ns += self.clock() - self._started
            self.full += info.get("generation") == 2


_collector = _Collector()


def rss_kb() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
    except (OSError, ValueError, IndexError):
        return None


def arguments(argv: Sequence[str] | None, description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--rounds", type=int, default=30, help="interleaved rounds (default 30)")
    parser.add_argument("--calls", type=int, default=500, help="calls per variant per round (default 500)")
    parser.add_argument("--rss-calls", type=int, default=10_000,
                        help="extra calls per variant to measure RSS growth (default 10000)")
    parser.add_argument("--quick", action="store_true", help="a few rounds only (smoke run)")
    parser.add_argument("--processes", type=int, default=None,
                        help="fresh worker processes the rounds are shared among, pooled into one row per "
                             "variant (default: the module's; 1 runs everything in this process)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.processes is not None and args.processes < 1:
        parser.error("--processes must be at least 1")
    if args.quick:
        args.rounds, args.calls, args.rss_calls = 5, 200, 2000
    return args


def _batch(variant: Variant, start: int, count: int, clock: Callable[[], int] = time.perf_counter_ns) -> None:
    fn = variant.fn
    out = variant.samples
    if variant.enter is not None:
        variant.enter()
    gc_before, full_before = _collector.ns, _collector.full
    try:
        for i in range(start, start + count):
            t0 = clock()
            fn(i)
            out.append(clock() - t0)
    finally:
        variant.gc_ns += _collector.ns - gc_before
        variant.full_gcs += _collector.full - full_before
        if variant.leave is not None:
            variant.leave()
    variant.calls += count


def _round(variants: Sequence[Variant], order: list[Variant], rng: random.Random, start: int, calls: int,
           turn: int, clock: Callable[[], int]) -> None:
    """One round: ``calls`` calls of each variant, in turns of ``turn`` calls, the variants in a fresh
    random order each turn; then each variant's mean for the round."""
    first = [len(v.samples) for v in variants]
    done = 0
    while done < calls:
        count = min(turn, calls - done)
        rng.shuffle(order)
        for v in order:
            _batch(v, start + done, count, clock)
        done += count
    for v, begin in zip(variants, first, strict=True):
        taken = v.samples[begin:]
        if taken:
            v.round_means.append(sum(taken) / len(taken))


def _quantile(sorted_ns: list[int], q: float) -> float:
    return sorted_ns[min(int(len(sorted_ns) * q), len(sorted_ns) - 1)] / 1000


def run_case(case: str, variants: Sequence[Variant], args: argparse.Namespace,
             flush: Callable[[], None] | None = None,
             clock: Callable[[], int] = time.perf_counter_ns,
             turn: int | None = None) -> list[dict[str, Any]]:
    """Time ``variants`` (the first one is the bare baseline) and return one row per variant.

    ``clock``: wall time by default; ``time.thread_time_ns`` measures the calling thread's CPU time
    (for calls that wait on I/O, whose wall time is mostly the other end's).

    ``turn``: within a round, the variants take turns of this many calls (in a fresh random order
    each turn) until each has made ``args.calls``; by default each makes all of them in one turn. A
    round's mean is still taken over all of its calls. Short turns are for slow calls, where one
    variant's turn lasts long enough for the machine's speed to change before the next one's.
    """
    rng = random.Random(1234)
    for v in variants:  # warm-up: caches, first price lookup, label children
        _batch(v, 0, min(200, args.calls), clock)
        v.samples.clear()
        v.round_means.clear()
    order = list(variants)
    _collector.clock = clock
    gc.callbacks.append(_collector)
    try:
        for v in variants:
            v.gc_ns = v.full_gcs = 0
        for r in range(args.rounds):
            _round(variants, order, rng, (r + 1) * args.calls, args.calls, turn or args.calls, clock)
        timed = {v.name: (v.gc_ns, v.full_gcs) for v in variants}
    finally:
        gc.callbacks.remove(_collector)
    growth: dict[str, int | None] = {}
    for v in variants:
        gc.collect()
        before = rss_kb()
        kept, kept_means = v.samples, v.round_means
        v.samples, v.round_means = [], []
        _batch(v, 0, args.rss_calls, clock)
        v.samples, v.round_means = kept, kept_means
        if flush is not None:
            flush()
        gc.collect()
        after = rss_kb()
        growth[v.name] = None if before is None or after is None or args.rss_calls <= 0 else after - before
    if flush is not None:
        flush()
    base = statistics.median(variants[0].samples) / 1000
    base_mean = statistics.median(variants[0].round_means) / 1000
    floor = next((v for v in variants if v.floor), None)
    references = _references(_added(floor, base, base_mean) if floor is not None else None,
                             [_added(v, base, base_mean) for v in variants if v.peer])
    rows = []
    for v in variants:
        ns = sorted(v.samples)
        median = statistics.median(ns) / 1000
        mean = statistics.median(v.round_means) / 1000
        row: dict[str, Any] = {
            "case": case,
            "variant": v.name,
            "median_us": round(median, 3),
            "p90_us": round(_quantile(ns, 0.9), 3),
            "added_us": round(median - base, 3),
            "ratio": round(median / base, 2) if base > 0 else None,
            "mean_us": round(mean, 3),
            "added_mean_us": round(mean - base_mean, 3),
            "gc_us": round(timed[v.name][0] / len(ns) / 1000, 3) if ns else None,
            "full_gcs": timed[v.name][1],
            "spans_per_call": round(v.spans() / v.calls, 3) if v.spans is not None and v.calls else None,
            "rss_growth_kb": growth[v.name],
            "n": len(ns),
        }
        if v is not variants[0]:
            row.update(_ratios((median - base, mean - base_mean), references))
        if getattr(args, "worker", False):  # what the parent needs to pool the workers' rows
            row["floor"], row["peer"] = v.floor, v.peer
        rows.append(row)
    return rows


def _added(v: Variant, base: float, base_mean: float) -> tuple[float, float]:
    """µs ``v`` adds to the bare variant: by median call, and by mean call (median of round means)."""
    return (statistics.median(v.samples) / 1000 - base,
            statistics.median(v.round_means) / 1000 - base_mean)


def _references(floor: tuple[float, float] | None,
                peers: Sequence[tuple[float, float]]) -> dict[str, tuple[float, float] | None]:
    """What the ratios divide by: the floor's added µs (median call, mean call), and the fastest
    peer's."""
    return {
        "floor_ratio": floor,
        "peer_ratio": (min(p[0] for p in peers), min(p[1] for p in peers)) if peers else None,
    }


def _ratios(added: tuple[float, float],
            references: dict[str, tuple[float, float] | None]) -> dict[str, float]:
    """Added time as a multiple of each reference's (the floor's, the fastest peer's), both ways."""
    out: dict[str, float] = {}
    for key, ref in references.items():
        if ref is None:
            continue
        if ref[0] > 0:
            out[key] = round(added[0] / ref[0], 2)
        if ref[1] > 0:
            out[f"{key}_mean"] = round(added[1] / ref[1], 2)
    return out


def delegated(module: str, args: argparse.Namespace, processes: int) -> bool:
    """For a module's ``main``: settle ``args.processes`` (``processes`` unless given; one with
    ``--quick``), and when that is more than one and this is not a worker, run the module in worker
    processes and print the pooled rows. True when it did (the module has nothing left to do)."""
    if args.processes is None:
        args.processes = 1 if args.quick else processes
    if args.processes > 1 and not args.worker:
        emit(in_workers(module, args))
        return True
    return False


def in_workers(module: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Run ``module``'s cases in ``args.processes`` fresh worker processes, one after another, the
    rounds shared among them, and pool each variant's rows into one (:func:`pool`).

    Why: a process's memory layout (where the interpreter's caches and the objects of the hot path
    happen to land) moves a call's cost by several percent for the whole life of the process, and
    not alike for every variant. One process is one draw of that layout; several measure what the
    variants cost over the draws. Only the first worker measures memory growth.
    """
    rounds = -(-args.rounds // args.processes)
    outputs: list[list[dict[str, Any]]] = []
    for index in range(args.processes):
        cmd = [sys.executable, "-m", module, "--worker", "--processes=1", f"--rounds={rounds}",
               f"--calls={args.calls}", f"--rss-calls={args.rss_calls if index == 0 else 0}"]
        print(f"{module}: worker {index + 1} of {args.processes} ...", file=sys.stderr, flush=True)
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"{module}: worker {index + 1} failed with exit code {proc.returncode}")
        outputs.append([json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")])
    return pool(outputs)


_AVERAGED = ("median_us", "p90_us", "added_us", "mean_us", "added_mean_us", "gc_us", "spans_per_call")


def pool(outputs: Sequence[Sequence[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per (case, variant) from the rows of several worker processes (each of which ran the
    same number of rounds).

    Each process's added times are its own (the variant against the bare client in the same
    process, as in one process); the pooled row has their average over the processes, and its
    ratios are computed from those averages. Timings themselves are not pooled: the bare client's
    level moves from process to process by more than what the instrumentation adds, so medians of
    samples drawn from several processes would not pair. ``*_by_process`` lists what each process
    measured.
    """
    cases: dict[str, list[list[dict[str, Any]]]] = {}
    for worker, rows in enumerate(outputs):
        for row in rows:
            cases.setdefault(row["case"], [[] for _ in outputs])[worker].append(row)
    pooled: list[dict[str, Any]] = []
    for per_worker in cases.values():
        by_variant = [list(rows) for rows in zip(*per_worker, strict=True)]
        merged = [_merge(rows) for rows in by_variant]
        added = [(m["added_us"], m["added_mean_us"]) for m in merged]
        roles = [rows[0] for rows in by_variant]
        references = _references(next((a for a, r in zip(added, roles, strict=True) if r.get("floor")), None),
                                 [a for a, r in zip(added, roles, strict=True) if r.get("peer")])
        base = merged[0]["median_us"]
        for index, (row, rows) in enumerate(zip(merged, by_variant, strict=True)):
            row["ratio"] = round(row["median_us"] / base, 2) if base > 0 else None
            if index:
                row.update(_ratios((row["added_us"], row["added_mean_us"]), references))
            for key, role in (("floor_ratio_mean", "floor"), ("peer_ratio_mean", "peer")):
                if key in row and not rows[0].get(role):  # (the reference's own ratio is 1)
                    row[f"{key}_by_process"] = [r.get(key) for r in rows]
            pooled.append(row)
    return pooled


def _merge(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The rows of one variant, one per process, as one row (see :func:`pool`)."""
    if len({(r["case"], r["variant"]) for r in rows}) != 1:
        raise ValueError("the workers measured different variants")
    row = {k: v for k, v in rows[0].items() if k not in ("floor", "peer") and not k.endswith("ratio")
           and not k.endswith("ratio_mean")}
    for key in _AVERAGED:
        numbers = [float(r[key]) for r in rows if r.get(key) is not None]
        row[key] = round(statistics.fmean(numbers), 3) if len(numbers) == len(rows) else None
    for key in ("full_gcs", "n", "spans_dropped"):
        if rows[0].get(key) is not None:
            row[key] = sum(r.get(key) or 0 for r in rows)
    measured = [r["rss_growth_kb"] for r in rows if r.get("rss_growth_kb") is not None]
    row["rss_growth_kb"] = measured[0] if measured else None
    row["processes"] = len(rows)
    return row


def emit(rows: Sequence[dict[str, Any]]) -> None:
    for row in rows:
        sys.stdout.write(json.dumps(row) + "\n")
    sys.stdout.flush()
