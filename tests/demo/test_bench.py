"""``agentwatch bench`` end to end on the job-copilot workflow (real LangGraph, real SDKs, the bundled
fake provider over HTTP): its costs against prices applied here by hand to the usage in the spans,
byte-identical results, and the baseline gate both ways."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agentwatch import cli

from ._helpers import (
    APPLICATIONS,
    COMMITTED,
    GENAI_PRICES,
    REPO,
    model_calls,
    price_key,
    published_cost,
    read_spans,
    require_adapters,
    stage_of,
)

require_adapters()

WORKLOAD = "examples.job_copilot.workload:graph"
MODELS = "gpt-4o,gpt-4o-mini,claude-haiku-4-5,claude-sonnet-4-5"  # as benchmarks/cost/run.sh
PRICE_DATE = "2026-11-23"
RUNS = 2


@dataclass
class BenchRun:
    code: int
    out: Path
    stdout: str

    @property
    def results(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.out / "results.json").read_text(encoding="utf-8"))
        return data


def bench(out: Path, *extra: str) -> BenchRun:
    """One ``agentwatch bench`` of the copilot, in this process, from a fresh fake provider."""
    workload = sys.modules.get("examples.job_copilot.workload")
    if workload is not None:
        workload.copilot.fake.clear()  # what a new process would start from: no prompt cached yet
    buf = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(buf):
        mp.chdir(REPO)
        mp.setenv("JOB_COPILOT_OFFLINE", "1")
        code = cli.main(
            [
                "bench",
                WORKLOAD,
                "--inputs",
                str(APPLICATIONS),
                "--runs",
                str(RUNS),
                "--models",
                MODELS,
                "--price-date",
                PRICE_DATE,
                "--out",
                str(out),
                "--no-progress",
                *extra,
            ]
        )
    return BenchRun(code, out, buf.getvalue())


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BenchRun]:
    yield bench(tmp_path_factory.mktemp("bench") / "first")


def test_costs_match_usage_priced_by_hand(first: BenchRun) -> None:
    assert first.code == 0, first.stdout
    results = first.results
    spans = read_spans(first.out / "spans.jsonl")
    by_id = {s.span: s for s in spans}
    run_of = {
        s.trace: s.attrs["agentwatch.bench.run.index"] for s in spans if s.name == "agentwatch.bench.run"
    }
    n_inputs = len(APPLICATIONS.read_text().splitlines())
    assert sorted(run_of.values()) == list(range(RUNS * n_inputs))

    per_run: dict[int, float] = defaultdict(float)
    per_stage: dict[str, float] = defaultdict(float)
    per_model: dict[str, float] = defaultdict(float)
    calls_per_model: dict[str, int] = defaultdict(int)
    for s in model_calls(spans):
        model = s.attrs["gen_ai.response.model"]
        usd = published_cost(model, s.attrs)
        per_run[run_of[s.trace]] += usd
        per_stage[stage_of(s, by_id)] += usd
        per_model[price_key(model)] += usd
        calls_per_model[price_key(model)] += 1

    n = RUNS * n_inputs
    assert results["runs"] == {"count": n, "ok": n, "errors": 0, "error_types": []}
    for row in results["per_run"]:
        assert row["cost_usd"] == pytest.approx(per_run[row["run"]], abs=1e-9)
    mean = sum(per_run.values()) / n
    assert results["cost_per_run_usd"]["mean"] == pytest.approx(mean, abs=1e-9)
    assert results["cost_per_run_usd"]["total"] == pytest.approx(sum(per_run.values()), abs=1e-9)
    for row in results["stages"]:
        assert row["cost_per_run_usd"] == pytest.approx(per_stage.get(row["stage"], 0.0) / n, abs=1e-9)
    assert {m["model"]: m["calls"] for m in results["models"]} == dict(calls_per_model)
    for m in results["models"]:
        assert m["cost_per_run_usd"] == pytest.approx(per_model[m["model"]] / n, abs=1e-9)
    # every model the copilot uses shows up, and the usage is the realistic kind
    assert set(calls_per_model) == {"o4-mini", "text-embedding-3-small", "claude-haiku-4-5", "gpt-4o"}
    tokens = {m["model"]: m["tokens"] for m in results["models"]}
    assert tokens["o4-mini"]["reasoning"] > 0
    assert tokens["gpt-4o"]["cache_read"] > 0
    assert tokens["claude-haiku-4-5"]["cache_read"] > 0 and tokens["claude-haiku-4-5"]["cache_write"] > 0
    assert results["prices"] == {"date": PRICE_DATE, "sources": [GENAI_PRICES]}


def test_workflow_shape_in_results(first: BenchRun) -> None:
    stages = {s["stage"]: s for s in first.results["stages"]}
    n = first.results["runs"]["count"]
    assert stages["analyze_job"]["executions"] == n
    assert stages["match_profile"]["executions"] == n
    assert stages["optimize_resume"]["executions"] == n
    # the conditional edge: 6 of the 10 applications match well enough for a cover letter
    assert stages["write_cover_letter"]["executions"] == 6 * RUNS
    # analyze_job: a tool call round trip, so two model calls per run
    assert stages["analyze_job"]["calls"] == 2 * n


def test_counterfactual_reprices_the_same_usage(first: BenchRun) -> None:
    spans = read_spans(first.out / "spans.jsonl")
    n = first.results["runs"]["count"]
    expected: dict[str, float] = {"gpt-4o-mini": 0.0, "claude-haiku-4-5": 0.0}
    for s in model_calls(spans):
        model = s.attrs["gen_ai.response.model"]
        for target in expected:
            if s.attrs["gen_ai.operation.name"] == "embeddings":
                expected[target] += published_cost(model, s.attrs)  # embeddings keep their model
            else:
                expected[target] += published_cost(target, s.attrs)
    rows = {c["model"]: c for c in first.results["counterfactual"]}
    actual = first.results["cost_per_run_usd"]["mean"]
    for target, total in expected.items():
        assert rows[target]["priced"] is True
        assert rows[target]["cost_per_run_usd"]["mean"] == pytest.approx(total / n, abs=1e-9)
        assert rows[target]["vs_actual"] == pytest.approx(total / n / actual, abs=1e-4)
        # the copilot calls both OpenAI and Anthropic models: some token counts come from another tokenizer
        assert rows[target]["exact_tokens"] is False
        assert "estimate" in rows[target]["note"]


def test_outputs_written(first: BenchRun) -> None:
    assert (first.out / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = (first.out / "summary.md").read_text(encoding="utf-8")
    assert "**Cost per run: $" in summary and "chart.png" in summary and "claude-haiku-4-5" in summary
    timings = json.loads((first.out / "timings.json").read_text(encoding="utf-8"))
    assert timings["runs"]["count"] == first.results["runs"]["count"]
    text = " ".join(first.stdout.split())  # the console wraps long lines at its width
    assert "Cost per stage" in text and "cost per run $" in text


def test_same_inputs_and_prices_give_identical_json_and_pass_the_gate(
    first: BenchRun, tmp_path: Path
) -> None:
    again = bench(tmp_path / "again", "--baseline", str(first.out / "results.json"))
    assert again.code == 0, again.stdout
    assert (again.out / "results.json").read_bytes() == (first.out / "results.json").read_bytes()
    assert "(+0.00%; limit +5.0%): OK" in again.stdout


def test_gate_fails_when_cost_grows(first: BenchRun, tmp_path: Path) -> None:
    cheaper = first.results
    cheaper["cost_per_run_usd"]["mean"] = round(cheaper["cost_per_run_usd"]["mean"] / 1.25, 12)
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(cheaper), encoding="utf-8")
    run = bench(tmp_path / "grown", "--baseline", str(baseline), "--max-regression", "10%")
    assert run.code == 1
    assert "cost per run grew +25.0%, more than the allowed 10.0%" in run.stdout
    assert "FAILED" in run.stdout


def test_committed_baseline_is_current(first: BenchRun) -> None:
    """benchmarks/cost/results was produced by the same command: re-running passes its gate."""
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert committed["workload"] == WORKLOAD
    assert committed["repeat"] == RUNS
    change = first.results["cost_per_run_usd"]["mean"] / committed["cost_per_run_usd"]["mean"] - 1
    assert abs(change) <= 0.05, f"cost per run moved {change:+.1%} against benchmarks/cost/results: re-run it"
