"""``agentwatch prices MODEL``: resolved prices, source, tiers, history; a price file; unknown models."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import pytest

from agentwatch.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["prices", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_resolved_model_source_and_rates(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "gpt-4o-2024-08-06", "--provider", "openai")
    assert code == 0
    assert "gpt-4o-2024-08-06  ->  gpt-4o" in out
    assert f"source    genai-prices {version('genai-prices')}" in out  # the installed data's release
    lines = {line.split()[0]: line.split()[-1] for line in out.splitlines() if line.startswith("  ")}
    assert lines["input"] == "2.50" and lines["output"] == "10.00"
    assert "cache read                 1.25" in out
    assert "tiers: none" in out


def test_tiers_correction_note_and_a_priced_call(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "claude-sonnet-4-20250514", "--input-tokens", "250000", "--output-tokens", "2000")
    assert code == 0
    assert "+agentwatch-corrections" in out
    assert "tier input_tokens>200000" in out and "22.50" in out
    # 250,000 x $6 + 2,000 x $22.50 per 1M
    assert "= $1.54500000 (tier input_tokens>200000)" in out


def test_history_and_at(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "o3", "--at", "2025-05-01")
    assert code == 0
    assert "before 2025-06-10  input 10.00, output 40.00" in out
    assert "from 2025-06-10    input 2.00, output 8.00" in out
    data = json.loads(run(capsys, "o3", "--at", "2025-05-01", "--json")[1])
    assert data["usd_per_million_tokens"]["base"]["input"] == "10"
    assert data["resolved"] == "o3" and data["provider"] == "openai"


def test_price_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("name: ours\nmodels:\n  - model: my-model\n    input: 1\n    output: 2\n")
    code, out, _ = run(capsys, "my-model", "--prices", str(path))
    assert code == 0 and "source    override:ours" in out
    path.write_text("models:\n  - model: my-model\n    input: free\n")
    code, _, err = run(capsys, "my-model", "--prices", str(path))
    assert code == 2 and "field 'input'" in err and str(path) in err


def test_unknown_model_says_how_to_add_a_price(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "acme-llm-9000")
    assert code == 1 and out == ""
    assert "no price known for 'acme-llm-9000'" in err and "AGENTWATCH_PRICES_FILE" in err


def test_bad_date(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "gpt-4o", "--at", "last tuesday")[0] == 2
