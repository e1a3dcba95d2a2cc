"""The overhead benchmarks' measuring loop: work one call does for many (a batch of queued metric
updates) falls outside the median call but must show in the mean call, and in its ratios; rounds
run in several worker processes are pooled into one row per variant."""

from __future__ import annotations

import argparse
import json
import textwrap
import time
from pathlib import Path

import pytest
from benchmarks.overhead._measure import Variant, arguments, in_workers, pool, run_case


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


def test_rows_of_several_workers_are_pooled() -> None:
    def worker(bare_us: float, added_us: float, rss_calls: int) -> list[dict[str, object]]:
        args = argparse.Namespace(rounds=3, calls=32, rss_calls=rss_calls, worker=True)
        rows = run_case("spin", [
            Variant("bare", lambda i: _spin(bare_us)),
            Variant("peer", lambda i: _spin(bare_us + 40), peer=True, spans=lambda: 64),
            Variant("ours", lambda i: _spin(bare_us + added_us)),
        ], args)
        for row in rows:
            row["spans_dropped"] = 2
            row["note"] = "spin µs"
        return rows

    # the second process is slower for every variant: its timings do not mix with the first one's
    first, second = worker(5, 10, rss_calls=8), worker(60, 30, rss_calls=0)
    assert first[0]["rss_growth_kb"] is not None and second[0]["rss_growth_kb"] is None
    rows = pool([first, second])
    assert [row["variant"] for row in rows] == ["bare", "peer", "ours"]
    bare, peer, ours = rows
    assert ours["processes"] == 2 and ours["n"] == first[2]["n"] + second[2]["n"] == 2 * 3 * 32
    by_process = ours["peer_ratio_mean_by_process"]
    assert by_process == [first[2]["peer_ratio_mean"], second[2]["peer_ratio_mean"]]
    assert 0.15 < by_process[0] < 0.4 < by_process[1] < 0.9
    assert ours["added_mean_us"] == round((first[2]["added_mean_us"] + second[2]["added_mean_us"]) / 2, 3)
    assert 15 < ours["added_mean_us"] < 25  # (10 + 30) / 2, not a median over both processes' calls
    assert ours["peer_ratio_mean"] == round(ours["added_mean_us"] / peer["added_mean_us"], 2)
    assert "peer_ratio_mean_by_process" not in peer and peer["peer_ratio_mean"] == 1.0
    assert bare["ratio"] == 1.0 and "peer_ratio" not in bare
    assert peer["spans_per_call"] == round((first[1]["spans_per_call"] + second[1]["spans_per_call"]) / 2, 3)
    assert ours["spans_dropped"] == 4 and ours["note"] == "spin µs"
    assert ours["rss_growth_kb"] == first[2]["rss_growth_kb"]  # only the first worker measures memory
    assert all("floor" not in row and "peer" not in row for row in rows)


def test_a_module_runs_its_rounds_in_worker_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # a module following the protocol: its parent shares the rounds among fresh workers
    (tmp_path / "spin_bench.py").write_text(textwrap.dedent("""
        import os, sys, time
        from benchmarks.overhead._measure import Variant, arguments, delegated, emit, run_case

        def spin(us):
            end = time.perf_counter_ns() + int(us * 1000)
            while time.perf_counter_ns() < end:
                pass

        args = arguments(sys.argv[1:], "spin")
        if not delegated("spin_bench", args, 1):
            rows = run_case("spin", [
                Variant("bare", lambda i: spin(5)),
                Variant("ours", lambda i: spin(15)),
            ], args)
            for row in rows:
                row["note"] = f"pid {os.getpid()}, {args.rounds} rounds, {args.rss_calls} rss calls"
            emit(rows)
    """))
    root = Path(__file__).resolve().parent.parent
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}:{root}")
    monkeypatch.chdir(tmp_path)
    args = arguments(["--processes", "3", "--rounds", "5", "--calls", "16", "--rss-calls", "8"], "spin")
    rows = in_workers("spin_bench", args)
    assert [row["variant"] for row in rows] == ["bare", "ours"]
    ours = rows[1]
    assert ours["processes"] == 3 and ours["n"] == 3 * 2 * 16  # 5 rounds shared: 2 per worker
    assert 5 < ours["added_us"] < 20
    assert ours["note"].endswith("2 rounds, 8 rss calls")  # the first worker measured memory
    assert ours["rss_growth_kb"] is not None
    assert "worker 3 of 3" in capsys.readouterr().err  # progress on stderr; stdout stays JSON lines
    assert json.loads(json.dumps(rows)) == rows
    with pytest.raises(SystemExit, match="worker 1 failed"):
        in_workers("no_such_bench_module", args)
