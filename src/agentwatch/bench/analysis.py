"""From recorded usage to the numbers of ``results.json``: cost per run, per stage, per model, and
what the same usage would have cost on other models.

Everything here is a pure function of the recorded usage, the price book and the price date, in
``Decimal`` and in a fixed order, so the same inputs and prices give the same bytes. Latencies are
not deterministic; they are computed separately (:func:`timings`) and kept out of the results.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Protocol

from agentwatch import names, tokens
from agentwatch.bench.collect import NO_STAGE, CallFact, Collected, is_chat
from agentwatch.usage import Usage

FORMAT = "agentwatch-bench/1"
_ZERO = Decimal(0)
_USD_PLACES = Decimal("1e-12")


@dataclass(frozen=True)
class ModelRef:
    """A model named on the command line: ``gpt-4o``, or ``provider:model`` to be explicit."""

    model: str
    provider: str | None = None

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        text = text.strip()
        if not text:
            raise ValueError("empty model name")
        provider, sep, model = text.partition(":")
        if sep and provider and model:
            return cls(model=model.strip(), provider=provider.strip())
        return cls(model=text)

    def __str__(self) -> str:
        return f"{self.provider}:{self.model}" if self.provider else self.model


class PriceFn(Protocol):
    """The subset of :class:`agentwatch.PriceBook` the analysis uses."""

    def price(self, provider: str | None, model: str, usage: Usage, at: datetime | None = None) -> Any: ...
    def model_label(self, provider: str | None, model: str) -> str: ...


def price_time(day: date) -> datetime:
    """Prices are taken as of the start (UTC) of the price date."""
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


def usd(value: Decimal) -> float:
    """A money amount for JSON: rounded to 1e-12 USD, so repeated runs print the same digits."""
    return float(value.quantize(_USD_PLACES))


def nearest_rank(values: Sequence[Decimal] | Sequence[float], q: float) -> Any:
    """The ``q`` quantile by the nearest-rank method (a value that occurred; deterministic)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(math.ceil(q * len(ordered)), 1)
    return ordered[min(rank, len(ordered)) - 1]


def tokenizer_family(provider: str | None, model: str) -> str:
    """Which tokenizer counted a model's tokens: calls priced as another family are estimates."""
    name = model.strip().lower().rsplit("/", 1)[-1]
    prov = (provider or "").lower()
    if name.startswith("claude") or prov in ("anthropic", "aws.bedrock.anthropic"):
        return "claude"
    if name.startswith(("gemini", "gemma")) or prov in ("google", "gcp.gemini", "gcp.vertex_ai", "gemini"):
        return "gemini"
    if name.startswith(
        ("gpt-", "o1", "o3", "o4", "chatgpt", "text-embedding", "davinci", "babbage")
    ) or prov in ("openai", "azure.ai.openai"):
        return tokens.encoding_name_for(name)
    return f"{prov or 'unknown'}/{name}"


@dataclass
class _Acc:
    calls: int = 0
    errors: int = 0
    unpriced: int = 0
    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    reasoning: int = 0
    cost: Decimal = _ZERO

    def add(self, call: CallFact, cost: Decimal | None) -> None:
        self.calls += 1
        if call.outcome == names.OUTCOME_ERROR:
            self.errors += 1
        u = call.usage
        if u is not None:
            self.input += u.input_tokens
            self.output += u.output_tokens
            self.cache_read += u.cache_read_tokens
            self.cache_write += u.cache_write_tokens
            self.reasoning += u.reasoning_tokens
            if cost is None:
                self.unpriced += 1
        if cost is not None:
            self.cost += cost

    def tokens(self) -> dict[str, int]:
        return {
            "input": self.input,
            "output": self.output,
            "cache_read": self.cache_read,
            "cache_write": self.cache_write,
            "reasoning": self.reasoning,
        }


def _stats(per_run: Sequence[Decimal]) -> dict[str, float | None]:
    if not per_run:
        return {"mean": None, "p50": None, "p95": None, "min": None, "max": None, "total": 0.0}
    total = sum(per_run, _ZERO)
    return {
        "mean": usd(total / len(per_run)),
        "p50": usd(nearest_rank(per_run, 0.50)),
        "p95": usd(nearest_rank(per_run, 0.95)),
        "min": usd(min(per_run)),
        "max": usd(max(per_run)),
        "total": usd(total),
    }


def _stage_order(stages: Iterable[str]) -> list[str]:
    return sorted(set(stages), key=lambda s: (s == NO_STAGE, s))


def analyse(
    collected: Collected,
    book: PriceFn,
    *,
    price_date: date,
    targets: Sequence[ModelRef] = (),
    meta: Mapping[str, Any] | None = None,
    default_source: str | None = None,
) -> dict[str, Any]:
    """The deterministic part of a benchmark's results (what ``results.json`` holds)."""
    at = price_time(price_date)
    n_runs = len(collected.runs)
    run_ids = [r.index for r in collected.runs]
    labels: dict[tuple[str, str], str] = {}

    def label(provider: str, model: str) -> str:
        key = (provider, model)
        if key not in labels:
            labels[key] = book.model_label(provider, model)
        return labels[key]

    sources: set[str] = set()
    priced: list[tuple[CallFact, Decimal | None]] = []
    for call in collected.calls:
        cost = None
        if call.usage is not None:
            c = book.price(call.provider, call.model, call.usage, at)
            if c is not None:
                cost = c.total_usd
                sources.add(str(c.source))
        priced.append((call, cost))

    per_run: dict[int, Decimal] = dict.fromkeys(run_ids, _ZERO)
    total = _Acc()
    by_stage: dict[str, _Acc] = defaultdict(_Acc)
    by_model: dict[tuple[str, str], _Acc] = defaultdict(_Acc)
    by_stage_model: dict[tuple[str, str, str], _Acc] = defaultdict(_Acc)
    missing_usage = estimated = 0
    for call, cost in priced:
        key = (call.provider, label(call.provider, call.model))
        total.add(call, cost)
        by_stage[call.stage].add(call, cost)
        by_model[key].add(call, cost)
        by_stage_model[(call.stage, key[0], key[1])].add(call, cost)
        if cost is not None:
            per_run[call.run] = per_run.get(call.run, _ZERO) + cost
        if call.usage is None and call.outcome != names.OUTCOME_ERROR:
            missing_usage += 1
        elif call.usage is not None and call.usage.estimated:
            estimated += 1

    stage_runs: dict[str, list[str]] = defaultdict(list)
    for s in collected.stages:
        stage_runs[s.stage].append(s.outcome)

    def per_run_usd(amount: Decimal) -> float | None:
        return usd(amount / n_runs) if n_runs else None

    stages = []
    for stage in _stage_order([*by_stage, *stage_runs]):
        acc = by_stage.get(stage, _Acc())
        outcomes = stage_runs.get(stage, [])
        stages.append(
            {
                "stage": stage,
                "executions": len(outcomes),
                "outcomes": {o: outcomes.count(o) for o in sorted(set(outcomes))},
                "calls": acc.calls,
                "call_errors": acc.errors,
                "tokens": acc.tokens(),
                "cost_usd": usd(acc.cost),
                "cost_per_run_usd": per_run_usd(acc.cost),
            }
        )

    models = []
    for (provider, model), acc in sorted(by_model.items(), key=lambda kv: (-kv[1].cost, kv[0])):
        models.append(
            {
                "provider": provider,
                "model": model,
                "calls": acc.calls,
                "call_errors": acc.errors,
                "unpriced_calls": acc.unpriced,
                "tokens": acc.tokens(),
                "cost_usd": usd(acc.cost),
                "cost_per_run_usd": per_run_usd(acc.cost),
            }
        )

    rank = {stage: i for i, stage in enumerate(_stage_order(by_stage))}
    stage_models = [
        {
            "stage": stage,
            "provider": provider,
            "model": model,
            "calls": acc.calls,
            "cost_per_run_usd": per_run_usd(acc.cost),
        }
        for (stage, provider, model), acc in sorted(
            by_stage_model.items(), key=lambda kv: (rank[kv[0][0]], kv[0])
        )
    ]

    run_values = [per_run[i] for i in run_ids]
    outcomes = [r.outcome for r in collected.runs]
    error_types = sorted({r.error_type for r in collected.runs if r.error_type})
    results: dict[str, Any] = {"format": FORMAT}
    results.update(meta or {})
    results["prices"] = {
        "date": price_date.isoformat(),
        "sources": sorted(sources) or ([default_source] if default_source else []),
    }
    results["runs"] = {
        "count": n_runs,
        "ok": outcomes.count(names.OUTCOME_OK),
        "errors": outcomes.count(names.OUTCOME_ERROR),
        "error_types": error_types,
    }
    results["cost_per_run_usd"] = _stats(run_values)
    results["calls"] = {
        "count": total.calls,
        "errors": total.errors,
        "unpriced": total.unpriced,
        "without_usage": missing_usage,
        "estimated_usage": estimated,
        "outside_runs": collected.stray_calls,
        "tokens": total.tokens(),
    }
    results["stages"] = stages
    results["models"] = models
    results["stage_models"] = stage_models
    results["counterfactual"] = [_counterfactual(t, priced, book, at, run_ids, run_values) for t in targets]
    results["per_run"] = [
        {
            "run": r.index,
            "input": r.input_index,
            "repeat": r.repeat,
            "outcome": r.outcome,
            "cost_usd": usd(per_run[r.index]),
        }
        for r in collected.runs
    ]
    return results


def _counterfactual(
    target: ModelRef,
    priced: Sequence[tuple[CallFact, Decimal | None]],
    book: PriceFn,
    at: datetime,
    run_ids: Sequence[int],
    actual_runs: Sequence[Decimal],
) -> dict[str, Any]:
    """What the runs would have cost if every chat call had gone to ``target`` with the same usage.

    Embedding calls keep their own model and cost. Token counts come from the models that were
    called; where the target's tokenizer differs, the number is an estimate and says so.
    """
    per_run: dict[int, Decimal] = dict.fromkeys(run_ids, _ZERO)
    per_stage: dict[str, Decimal] = defaultdict(lambda: _ZERO)
    families: set[str] = set()
    target_family = tokenizer_family(target.provider, target.model)
    unpriced = 0
    repriced = 0
    for call, actual in priced:
        if is_chat(call):
            if call.usage is None:
                continue
            c = book.price(target.provider, target.model, call.usage, at)
            if c is None:
                unpriced += 1
                continue
            cost: Decimal | None = c.total_usd
            repriced += 1
            families.add(tokenizer_family(call.provider, call.model))
        else:
            cost = actual
        if cost is not None:
            per_run[call.run] = per_run.get(call.run, _ZERO) + cost
            per_stage[call.stage] += cost
    n = len(run_ids)
    entry: dict[str, Any] = {
        "model": target.model,
        "provider": target.provider,
        "label": book.model_label(target.provider, target.model),
        "priced": unpriced == 0,
    }
    if unpriced:
        entry["note"] = f"no price known for {target}: add one with --prices"
        return entry
    differs = sorted(families - {target_family})
    entry["tokenizer"] = target_family
    entry["exact_tokens"] = not differs
    entry["note"] = (
        f"an estimate: the recorded token counts come from the {' and '.join(differs)} "
        f"tokenizer{'s' if len(differs) > 1 else ''}, "
        f"{target} tokenizes with {target_family}"
        if differs
        else "same tokenizer: same token counts"
    )
    values = [per_run[i] for i in run_ids]
    entry["cost_per_run_usd"] = _stats(values)
    actual_mean = sum(actual_runs, _ZERO) / n if n else _ZERO
    target_mean = sum(values, _ZERO) / n if n else _ZERO
    entry["vs_actual"] = float(round(target_mean / actual_mean, 4)) if actual_mean else None
    entry["stages"] = {s: usd(per_stage[s] / n) for s in _stage_order(per_stage)} if n else {}
    entry["repriced_calls"] = repriced
    return entry


def timings(collected: Collected, book: PriceFn | None = None) -> dict[str, Any]:
    """Latency per run, stage and model (seconds; nearest-rank p50 / p95). Not deterministic."""

    def summary(values: Sequence[float]) -> dict[str, float | int | None]:
        if not values:
            return {"count": 0, "p50_s": None, "p95_s": None, "mean_s": None}
        return {
            "count": len(values),
            "p50_s": round(nearest_rank(values, 0.5), 6),
            "p95_s": round(nearest_rank(values, 0.95), 6),
            "mean_s": round(sum(values) / len(values), 6),
        }

    stages: dict[str, list[float]] = defaultdict(list)
    for s in collected.stages:
        stages[s.stage].append(s.duration_s)
    models: dict[str, list[float]] = defaultdict(list)
    for c in collected.calls:
        model = book.model_label(c.provider, c.model) if book is not None else c.model
        models[f"{c.provider}:{model}"].append(c.duration_s)
    return {
        "runs": summary([r.duration_s for r in collected.runs]),
        "stages": {k: summary(v) for k, v in sorted(stages.items())},
        "models": {k: summary(v) for k, v in sorted(models.items())},
    }
