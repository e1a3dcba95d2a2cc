"""Label cardinality: 10,000 distinct model, stage and tool names never make more series than the
configured limit; what overflows is folded into ``other`` and counted, and agentwatch's own caches
stay bounded."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry

import agentwatch
from agentwatch.pricing import PriceBook
from agentwatch.testing import Captured, capture

N = 10_000
LIMIT = 200  # configure()'s default max_label_values


def label_values(registry: CollectorRegistry, metric: str, label: str) -> set[str]:
    return {s.labels[label] for m in registry.collect() if m.name == metric for s in m.samples
            if label in s.labels}


def series(registry: CollectorRegistry) -> int:
    return sum(len(m.samples) for m in registry.collect())


def test_ten_thousand_names_per_label_stay_within_the_limit() -> None:
    # A book with no bundled data: resolving an unknown model in the bundled genai-prices data
    # takes ~1.5 ms (cached afterwards), which would make this test about pricing speed.
    with capture(prices=PriceBook(use_default_source=False)) as tel:
        _run(tel)


def _run(tel: Captured) -> None:
    reg = tel.registry
    base_series = series(reg)
    for i in range(N):
        name = f"custom-model-{i:05d}"

        @agentwatch.track_inference(provider="acme", model=name)
        def ask() -> dict[str, Any]:
            return {"usage": {"prompt_tokens": 10, "completion_tokens": 2}}

        @agentwatch.stage(f"stage-{i:05d}")
        def step() -> None:
            return None

        @agentwatch.track_tool(name=f"tool-{i:05d}")
        def tool() -> None:
            return None

        ask()
        step()
        tool()
        if i % 2000 == 1999:
            tel.clear()  # keep the in-memory span list small

    models = label_values(reg, "agentwatch_llm_calls", "model")
    stages = label_values(reg, "agentwatch_stage_runs", "stage")
    tools = label_values(reg, "agentwatch_tool_calls", "tool")
    assert len(models) == LIMIT + 1 and "other" in models
    assert len(stages) == LIMIT + 1 and "other" in stages
    assert len(tools) == LIMIT + 1 and "other" in tools
    folded = N - LIMIT
    assert tel.sample("agentwatch_llm_calls_total", provider="acme", model="other", operation="chat",
                      outcome="ok") == folded
    assert tel.sample("agentwatch_stage_runs_total", graph="", stage="other", outcome="ok") == folded
    assert tel.sample("agentwatch_tool_calls_total", tool="other", outcome="ok") == folded
    # Every fold is counted, per label.
    assert tel.sample("agentwatch_label_overflow_total", label="model") == folded
    assert tel.sample("agentwatch_label_overflow_total", label="stage") == folded
    assert tel.sample("agentwatch_label_overflow_total", label="tool") == folded
    # Exact totals survive the folding.
    assert sum(s.value for m in reg.collect() if m.name == "agentwatch_llm_tokens" for s in m.samples
               if s.name.endswith("_total") and s.labels["type"] == "input") == 10 * N
    # Series: bounded by the limits, not by the 30,000 names seen (a few dozen per admitted value).
    assert series(reg) - base_series < 40 * (LIMIT + 1) * 3
    # agentwatch's own per-name state is bounded too.
    recorder = tel.telemetry.recorder
    assert len(recorder._static_attrs) <= 4096
    book = tel.telemetry.price_book
    assert len(book._cache) <= 4096
    assert len(book.unpriced) <= 1001
    assert book.unpriced_total() == N  # every unpriced call still counted


def test_default_price_book_state_is_bounded_for_unknown_models() -> None:
    with capture() as tel:
        for i in range(1200):
            agentwatch.track_inference(provider="acme", model=f"unknown-model-{i}")(
                lambda: {"usage": {"prompt_tokens": 1, "completion_tokens": 1}})()
        book = tel.telemetry.price_book
        assert len(book.unpriced) == 1001  # 1,000 named, the rest in one shared entry
        assert book.unpriced[(None, "other")] == 200
        assert book.unpriced_total() == 1200
        assert len(book._warned) <= 1000
        assert tel.sample("agentwatch_unpriced_calls_total", provider="acme", model="other") == 1000


def test_small_configured_limit() -> None:
    with capture(max_label_values=3) as tel:
        for i in range(50):
            agentwatch.track_tool(name=f"t{i}")(lambda: None)()
        tools = label_values(tel.registry, "agentwatch_tool_calls", "tool")
        assert tools == {"t0", "t1", "t2", "other"}
        assert tel.sample("agentwatch_tool_calls_total", tool="other", outcome="ok") == 47
        assert tel.sample("agentwatch_label_overflow_total", label="tool") == 47
