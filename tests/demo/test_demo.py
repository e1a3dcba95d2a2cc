"""``agentwatch demo`` end to end, as a user runs it: a separate process, the job copilot on the
bundled fake provider, /metrics scraped while it runs, and its costs checked against the usage in
the span file priced here by hand."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

import pytest

from ._helpers import model_calls, published_cost, read_spans, require_adapters

require_adapters()

RUNS = 4


def _scrape_until(url: str, needle: str, deadline: float) -> str:
    text = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                text = response.read().decode("utf-8")
        except OSError:
            text = ""
        if needle in text:
            return text
        time.sleep(0.1)
    return text


def test_demo_runs_offline_serves_metrics_and_prices_right(tmp_path: Path) -> None:
    spans_file = tmp_path / "spans.jsonl"
    summary_file = tmp_path / "demo.json"
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")}
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    env["COLUMNS"] = "160"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agentwatch.cli",
            "demo",
            "--runs",
            str(RUNS),
            "--port",
            "0",
            "--spans-file",
            str(spans_file),
            "--json",
            str(summary_file),
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    url = None
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        lines.append(line)
        if "/metrics" in line and line.strip().startswith("metrics"):
            url = line.split()[1]
            break
    assert url is not None and url.startswith("http://127.0.0.1:"), "".join(lines)
    # Live while it runs: the first finished model call shows up in the scrape.
    scraped = _scrape_until(url, "agentwatch_llm_calls_total{", deadline)
    rest: list[str] = []
    reader = threading.Thread(target=lambda: rest.extend(proc.stdout or []))
    reader.start()
    code = proc.wait(timeout=max(deadline - time.monotonic(), 1))
    reader.join(timeout=5)
    output = "".join(lines + rest)
    assert code == 0, output
    assert "agentwatch_llm_calls_total{" in scraped, scraped[:2000]

    # What it printed: the report tables and the cost per run.
    for text in (
        "What the copilot cost",
        "Stages",
        "Models",
        "optimize_resume",
        "write_cover_letter",
        "claude-haiku-4-5",
        "Cost per run: $",
    ):
        assert text in output, output

    # Its numbers against the span file, priced by hand.
    spans = read_spans(spans_file)
    runs = {s.trace for s in spans if s.name == "invoke_workflow job_copilot"}
    assert len(runs) == RUNS
    per_run: dict[str, float] = defaultdict(float)
    for s in model_calls(spans):
        if s.trace in runs:
            per_run[s.trace] += published_cost(s.attrs["gen_ai.response.model"], s.attrs)
    summary = json.loads(summary_file.read_text(encoding="utf-8"))
    assert summary["runs"] == RUNS and summary["failed_runs"] == 0
    assert summary["cost_per_run_usd"]["mean"] == pytest.approx(sum(per_run.values()) / RUNS, abs=1e-9)
    assert summary["cost_per_run_usd"]["total"] == pytest.approx(sum(per_run.values()), abs=1e-9)

    # The injected overload on the fourth run was retried by the optimize_resume retry policy.
    attempts = [s for s in spans if s.attrs.get("agentwatch.stage.name") == "optimize_resume"]
    assert len(attempts) == RUNS + 1
    assert sorted(s.attrs["agentwatch.stage.outcome"] for s in attempts) == ["error"] + ["ok"] * RUNS
    stages = {row["stage"]: row for row in summary["report"]["stages"]}
    assert stages["optimize_resume"]["errors"] == 1
