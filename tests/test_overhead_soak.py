"""The memory soak of the overhead benchmarks, run short: its readings are whole (every span of every
invocation exported, none dropped, no run left open) and its summaries add up."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_soak_reads_memory_after_completing_and_exporting_everything() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.overhead.soak_memory", "--invocations", "60", "--every", "20"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    readings = [r for r in lines if not r.get("summary")]
    summaries = {r["case"]: r for r in lines if r.get("summary")}
    assert set(summaries) == {"langgraph_4_nodes", "track_inference"}

    graph = [r for r in readings if r["case"] == "langgraph_4_nodes"]
    assert [r["invocations"] for r in graph] == [0, 20, 40, 60]
    # read after a flush: each interval's 20 invocations exported all their 9 spans
    assert [b["spans"] - a["spans"] for a, b in itertools.pairwise(graph)] == [180, 180, 180]
    assert all(r["dropped"] == 0 and r["open_runs"] == 0 for r in graph)
    assert graph[0]["rss_growth_kb"] == 0

    decorated = [r for r in readings if r["case"] == "track_inference"]
    assert [b["spans"] - a["spans"] for a, b in itertools.pairwise(decorated)] == [20, 20, 20]

    summary = summaries["langgraph_4_nodes"]
    assert summary["invocations"] == 60 and summary["interval"] == 20
    assert summary["spans"] == 540 and summary["dropped"] == 0
    assert summary["rss_growth_kb"] == graph[-1]["rss_kb"] - graph[0]["rss_kb"]
    assert summary["objects_growth"] == graph[-1]["objects"] - graph[0]["objects"]
