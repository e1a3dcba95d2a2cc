"""The bench machinery on a small workload of decorated functions (no framework), and its argument
checks: fast, and independent of the adapters."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from agentwatch import cli
from agentwatch.bench import BenchError, ModelRef, compare, load_inputs, parse_threshold
from agentwatch.bench.analysis import nearest_rank

from ._helpers import GENAI_PRICES, model_calls, published_cost, read_spans

WORKLOAD = """
import agentwatch

@agentwatch.track_inference(provider="openai", model="gpt-4o")
def plan(n):
    return {"model": "gpt-4o-2024-08-06", "usage": {"prompt_tokens": 1000 + n, "completion_tokens": 20 * n,
            "prompt_tokens_details": {"cached_tokens": 512}}}

@agentwatch.track_inference(provider="anthropic", model="claude-haiku-4-5")
def write(n):
    return {"type": "message", "model": "claude-haiku-4-5-20251001",
            "usage": {"input_tokens": 300, "output_tokens": 100 + n, "cache_read_input_tokens": 1000,
                      "cache_creation_input_tokens": 50}}

def run(item):
    if item.get("fail"):
        with agentwatch.stage("plan"):
            raise RuntimeError("boom")
    with agentwatch.stage("plan"):
        plan(item["n"])
    with agentwatch.stage("write"):
        write(item["n"])
        plan(item["n"])
"""


ARGS = ("--inputs", "inputs.jsonl", "--runs", "2")


def _bench(tmp_path: Path, module: str, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        mp.chdir(tmp_path)
        code = cli.main(["bench", f"{module}:run", "--no-progress", "--price-date", "2026-11-01", *args])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def workload(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    name = f"bench_wl_{request.node.name.replace('[', '_').replace(']', '_')}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(WORKLOAD), encoding="utf-8")
    (tmp_path / "inputs.jsonl").write_text('{"n": 1}\n{"n": 2}\n\n{"n": 3, "fail": true}\n{"n": 4}\n')
    return name


def test_small_workload_end_to_end(tmp_path: Path, workload: str) -> None:
    code, out, _ = _bench(tmp_path, workload, *ARGS, "--models", "openai:gpt-4o-mini", "--out", "a")
    assert code == 0, out
    results: dict[str, Any] = json.loads((tmp_path / "a" / "results.json").read_text())
    assert results["runs"] == {"count": 8, "ok": 6, "errors": 2, "error_types": ["RuntimeError"]}
    assert [r["outcome"] for r in results["per_run"]] == ["ok", "ok", "error", "ok"] * 2
    spans = read_spans(tmp_path / "a" / "spans.jsonl")
    assert len(model_calls(spans)) == 18

    # by hand: plan = gpt-4o, 512 cached of 1000+n, 20n out; write = haiku, 300 + 1000 read + 50 written
    def plan(n: int) -> float:
        return ((1000 + n - 512) * 2.50 + 512 * 1.25 + 20 * n * 10.0) / 1e6

    def write(n: int) -> float:
        return (300 * 1.00 + 1000 * 0.10 + 50 * 1.25 + (100 + n) * 5.0) / 1e6

    expected = [2 * plan(n) + write(n) if n != 3 else 0.0 for n in (1, 2, 3, 4)] * 2
    assert [r["cost_usd"] for r in results["per_run"]] == pytest.approx(expected, abs=1e-12)
    assert results["cost_per_run_usd"]["mean"] == pytest.approx(sum(expected) / 8, abs=1e-12)
    assert results["cost_per_run_usd"]["p50"] == pytest.approx(sorted(expected)[3], abs=1e-12)
    assert results["cost_per_run_usd"]["p95"] == pytest.approx(max(expected), abs=1e-12)
    stages = {s["stage"]: s for s in results["stages"]}
    assert stages["plan"]["outcomes"] == {"error": 2, "ok": 6}
    assert stages["write"]["cost_per_run_usd"] == pytest.approx(
        sum(plan(n) + write(n) for n in (1, 2, 4)) * 2 / 8, abs=1e-12
    )
    # the independent reading of the span file agrees with the per-call pricing
    assert sum(
        published_cost(s.attrs["gen_ai.response.model"], s.attrs) for s in model_calls(spans)
    ) == pytest.approx(results["cost_per_run_usd"]["total"], abs=1e-12)
    # counterfactual: the Anthropic calls' 50 cache-write tokens are plain input on gpt-4o-mini
    mini = results["counterfactual"][0]
    by_hand = (
        sum(
            ((1000 + n - 512) * 0.15 + 512 * 0.075 + 20 * n * 0.60) * 2 / 1e6
            + (300 * 0.15 + 1000 * 0.075 + 50 * 0.15 + (100 + n) * 0.60) / 1e6
            for n in (1, 2, 4)
        )
        * 2
        / 8
    )
    assert mini["cost_per_run_usd"]["mean"] == pytest.approx(by_hand, abs=1e-12)
    assert mini["exact_tokens"] is False and "claude" in mini["note"]
    # same inputs and prices: the same bytes
    code, _, _ = _bench(tmp_path, workload, *ARGS, "--models", "openai:gpt-4o-mini", "--out", "b")
    assert code == 0
    assert (tmp_path / "b" / "results.json").read_bytes() == (tmp_path / "a" / "results.json").read_bytes()
    # a baseline with fewer failures fails the gate, whatever the cost
    base = json.loads((tmp_path / "a" / "results.json").read_text())
    base["runs"]["errors"] = 0
    (tmp_path / "base.json").write_text(json.dumps(base))
    code, out, _ = _bench(tmp_path, workload, *ARGS, "--out", "c", "--baseline", "base.json")
    assert code == 1 and "2 runs failed (baseline: 0)" in out


def test_async_workload(tmp_path: Path) -> None:
    (tmp_path / "async_wl.py").write_text(
        textwrap.dedent("""
        import asyncio
        import agentwatch

        @agentwatch.track_inference(provider="openai", model="gpt-4o-mini")
        async def ask(n):
            await asyncio.sleep(0)
            return {"model": "gpt-4o-mini", "usage": {"prompt_tokens": 1000 * n, "completion_tokens": 100}}

        async def run(item):
            async with agentwatch.stage("ask"):
                await ask(item["n"])
        """),
        encoding="utf-8",
    )
    (tmp_path / "inputs.jsonl").write_text('{"n": 1}\n{"n": 3}\n')
    code, out, _ = _bench(tmp_path, "async_wl", "--inputs", "inputs.jsonl", "--out", "o")
    assert code == 0, out
    results = json.loads((tmp_path / "o" / "results.json").read_text())
    expected = [(1000 * n * 0.15 + 100 * 0.60) / 1e6 for n in (1, 3)]
    assert [r["cost_usd"] for r in results["per_run"]] == pytest.approx(expected, abs=1e-12)
    assert results["stages"][0]["stage"] == "ask"


def test_price_file_overrides_and_is_pinned(tmp_path: Path, workload: str) -> None:
    (tmp_path / "prices.yaml").write_text(
        "name: negotiated\nmodels:\n  gpt-4o: {input: 1.00, cache_read: 0.50, output: 4.00}\n",
        encoding="utf-8",
    )
    code, out, _ = _bench(tmp_path, workload, *ARGS, "--prices", "prices.yaml", "--out", "p")
    assert code == 0, out
    results = json.loads((tmp_path / "p" / "results.json").read_text())
    assert results["prices"] == {
        "date": "2026-11-01",
        "sources": [GENAI_PRICES, "override:negotiated"],
    }
    gpt = next(m for m in results["models"] if m["model"] == "gpt-4o")
    by_hand = sum(((1000 + n - 512) * 1.00 + 512 * 0.50 + 20 * n * 4.00) * 2 / 1e6 for n in (1, 2, 4)) * 2
    assert gpt["cost_usd"] == pytest.approx(by_hand, abs=1e-12)
    code, _, err = _bench(tmp_path, workload, *ARGS, "--prices", "missing.yaml", "--out", "q")
    assert code == 2 and "--prices missing.yaml" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nomodule"], "WORKLOAD must look like module:callable"),
        (["no_such_module_here:run"], "cannot import 'no_such_module_here'"),
        (["json:not_there"], "json has no attribute 'not_there'"),
        (["json:__doc__"], "neither a function nor a runnable"),
    ],
)
def test_bad_workload_is_a_usage_error(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "in.jsonl").write_text('{"a": 1}\n')
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        mp.chdir(tmp_path)
        code = cli.main(["bench", *args, "--inputs", "in.jsonl", "--out", "o"])
    assert code == 2
    assert message in err.getvalue()


def test_inputs_are_checked(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": 1}\n[1, 2]\n')
    with pytest.raises(BenchError, match="line 2: each line must be a JSON object"):
        load_inputs(bad)
    bad.write_text('{"a": 1}\n{oops\n')
    with pytest.raises(BenchError, match="line 2: not JSON"):
        load_inputs(bad)
    bad.write_text("\n\n")
    with pytest.raises(BenchError, match="no inputs"):
        load_inputs(bad)
    with pytest.raises(BenchError, match="--inputs"):
        load_inputs(tmp_path / "missing.jsonl")
    bad.write_text('{"a": 1}\n')
    items, digest = load_inputs(bad)
    assert items == [{"a": 1}] and digest == hashlib.sha256(b'{"a": 1}\n').hexdigest()


def test_threshold_and_model_parsing() -> None:
    assert parse_threshold("5%") == 0.05
    assert parse_threshold("2.5") == 0.025
    assert parse_threshold(" 0% ") == 0.0
    for bad in ("-1%", "five", "5%%", ""):
        with pytest.raises(BenchError):
            parse_threshold(bad)
    assert ModelRef.parse("gpt-4o") == ModelRef("gpt-4o")
    assert ModelRef.parse("anthropic:claude-haiku-4-5") == ModelRef("claude-haiku-4-5", "anthropic")
    assert str(ModelRef.parse(" openai:gpt-4o-mini ")) == "openai:gpt-4o-mini"


def _results(mean: float, errors: int = 0) -> dict[str, Any]:
    return {
        "cost_per_run_usd": {"mean": mean},
        "runs": {"errors": errors},
        "stages": [],
        "inputs": {"sha256": "x"},
        "workload": "w",
        "prices": {"date": "2026-11-01", "sources": ["p"]},
    }


def test_gate_decisions() -> None:
    assert compare(_results(1.04), _results(1.0), 0.05).ok
    assert compare(_results(0.5), _results(1.0), 0.0).ok  # cheaper always passes
    v = compare(_results(1.06), _results(1.0), 0.05)
    assert not v.ok and v.change == pytest.approx(0.06)
    assert not compare(_results(1.0, errors=1), _results(1.0), 0.05).ok
    assert not compare(_results(0.01), _results(0.0), 0.05).ok
    assert compare(_results(0.0), _results(0.0), 0.05).ok
    moved = _results(1.0)
    moved["prices"] = {"date": "2026-12-01", "sources": ["p"]}
    assert any("prices differ" in n for n in compare(moved, _results(1.0), 0.05).notes)


def test_nearest_rank() -> None:
    values = [5.0, 1.0, 3.0, 2.0, 4.0]
    assert nearest_rank(values, 0.5) == 3.0
    assert nearest_rank(values, 0.95) == 5.0
    assert nearest_rank(values, 0.0) == 1.0
    assert nearest_rank([], 0.5) is None
