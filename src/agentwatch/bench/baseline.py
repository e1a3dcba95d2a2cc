"""The cost gate: compare a benchmark with an earlier ``results.json`` and fail on a regression."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

from agentwatch.bench.analysis import FORMAT
from agentwatch.bench.workload import BenchError

_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%?\s*$")


def parse_threshold(text: str) -> float:
    """``"5%"`` or ``"5"`` -> 0.05: how much the mean cost per run may grow."""
    m = _PERCENT.match(str(text))
    if not m:
        raise BenchError(f"--max-regression must be a percentage like 5% or 2.5%, not {text!r}")
    return float(m.group(1)) / 100.0


def load_baseline(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as exc:
        raise BenchError(f"--baseline {path}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise BenchError(f"--baseline {path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BenchError(f"--baseline {path}: not an agentwatch bench results.json (format {FORMAT})")
    mean = data.get("cost_per_run_usd", {}).get("mean")
    if not isinstance(mean, (int, float)):
        raise BenchError(f"--baseline {path}: it has no mean cost per run")
    return data


@dataclass
class Verdict:
    """The gate's decision, with the numbers behind it."""

    ok: bool
    current: float
    baseline: float
    change: float | None  # current / baseline - 1 (None when the baseline cost nothing)
    limit: float
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    stages: list[tuple[str, float | None, float | None]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "cost_per_run_usd": self.current,
            "baseline_cost_per_run_usd": self.baseline,
            "change": self.change,
            "max_regression": self.limit,
            "reasons": self.reasons,
            "notes": self.notes,
        }


def compare(results: dict[str, Any], baseline: dict[str, Any], max_regression: float) -> Verdict:
    """Fail when the mean cost per run grew by more than ``max_regression`` (a fraction), or when
    more runs failed than in the baseline (a run that crashes early looks cheap)."""
    current = float(results["cost_per_run_usd"]["mean"] or 0.0)
    before = float(baseline["cost_per_run_usd"]["mean"] or 0.0)
    change = current / before - 1.0 if before > 0 else None
    verdict = Verdict(ok=True, current=current, baseline=before, change=change, limit=max_regression)
    if change is None:
        if current > 0:
            verdict.ok = False
            verdict.reasons.append("the baseline cost nothing per run; this run costs more")
    elif change > max_regression:
        verdict.ok = False
        verdict.reasons.append(f"cost per run grew {change:+.1%}, more than the allowed {max_regression:.1%}")
    errors_now = int(results.get("runs", {}).get("errors", 0))
    errors_before = int(baseline.get("runs", {}).get("errors", 0))
    if errors_now > errors_before:
        verdict.ok = False
        verdict.reasons.append(f"{errors_now} runs failed (baseline: {errors_before})")
    if results.get("inputs", {}).get("sha256") != baseline.get("inputs", {}).get("sha256"):
        verdict.notes.append("the inputs differ from the baseline's")
    if results.get("workload") != baseline.get("workload"):
        verdict.notes.append(f"the baseline measured {baseline.get('workload')!r}")
    if results.get("prices") != baseline.get("prices"):
        verdict.notes.append(f"prices differ: baseline {_prices(baseline)}, now {_prices(results)}")
    before_stages = {s["stage"]: s.get("cost_per_run_usd") for s in baseline.get("stages", [])}
    now_stages = {s["stage"]: s.get("cost_per_run_usd") for s in results.get("stages", [])}
    for stage in sorted(set(before_stages) | set(now_stages)):
        verdict.stages.append((stage, before_stages.get(stage), now_stages.get(stage)))
    return verdict


def _prices(results: dict[str, Any]) -> str:
    p = results.get("prices", {})
    return f"{', '.join(p.get('sources', [])) or '?'} as of {p.get('date', '?')}"
