"""The overhead benchmarks' measuring loop: work one call does for many (a batch of queued metric
updates) falls outside the median call but must show in the mean call, and in its ratios."""

from __future__ import annotations

import argparse
import time

from benchmarks.overhead._measure import Variant, run_case


def _spin(us: float) -> None:
    end = time.perf_counter_ns() + int(us * 1000)
    while time.perf_counter_ns() < end:
        pass


def test_mean_call_counts_the_work_of_occasional_calls() -> None:
    args = argparse.Namespace(rounds=4, calls=64, rss_calls=16)
    rows = run_case("spin", [
        Variant("bare", lambda i: None),
        Variant("floor", lambda i: _spin(20), floor=True),
        # every 8th call pays for the 7 before it, 20 µs more for each
        Variant("batched", lambda i: _spin(20 + (160 if i % 8 == 7 else 0))),
    ], args)
    by_name = {row["variant"]: row for row in rows}
    batched = by_name["batched"]
    assert batched["added_us"] < 30  # the median call does not see the batch
    assert batched["added_mean_us"] > 35  # the mean call does (20 + 160 / 8 = 40 µs)
    assert batched["floor_ratio"] < 1.5 < batched["floor_ratio_mean"]
    assert by_name["floor"]["floor_ratio_mean"] == 1.0
    assert "floor_ratio_mean" not in by_name["bare"]
