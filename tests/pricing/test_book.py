"""The price book: names, unknown models, replay at a past date, label names, the Cost it returns."""

from __future__ import annotations

import copy
import dataclasses
import logging
import pickle
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

import agentwatch
import agentwatch.testing
from agentwatch import Cost, Usage, errors
from agentwatch.pricing import PriceBook, estimate_cost, get_default_book, set_default_book
from agentwatch.testing import Captured

M = Decimal(1_000_000)
USAGE = Usage(input_tokens=1000, output_tokens=100)


@pytest.mark.parametrize(("provider", "model", "canonical"), [
    ("openai", "gpt-4o-2024-08-06", "gpt-4o"),
    ("openai", "openai/gpt-4o", "gpt-4o"),
    (None, "gpt-4o", "gpt-4o"),
    ("azure.ai.openai", "gpt-4o", "gpt-4o"),
    ("gcp.gemini", "models/gemini-2.5-flash", "gemini-2.5-flash"),
    ("google_genai", "gemini-2.5-flash", "gemini-2.5-flash"),
    ("gcp.vertex_ai", "publishers/google/models/gemini-2.5-flash", "gemini-2.5-flash"),
    ("anthropic", "claude-3-5-haiku-latest", "claude-3-5-haiku-latest"),
    ("anthropic", "claude-haiku-4-5-20251001", "claude-haiku-4-5"),
    ("anthropic", "anthropic/claude-haiku-4-5", "claude-haiku-4-5"),
    ("aws.bedrock", "anthropic.claude-3-haiku-20240307-v1:0", "regional.anthropic.claude-3-haiku-20240307-v1:0"),
    ("aws.bedrock", "us.anthropic.claude-3-5-sonnet-20241022-v2:0",
     "regional.anthropic.claude-3-5-sonnet-20241022-v2:0"),
    ("gcp.vertex_ai", "claude-sonnet-4@20250514", "claude-4-sonnet"),
    ("mistral_ai", "mistral-large-latest", "mistral-large"),
    ("x_ai", "grok-3", "grok-3"),
])
def test_names_are_normalised_before_lookup(provider: str | None, model: str, canonical: str) -> None:
    book = PriceBook.default()
    assert book.price(provider, model, USAGE) is not None
    assert book.model_label(provider, model) == canonical


def test_same_model_same_price_whatever_the_spelling() -> None:
    totals = {estimate_cost(p, m, USAGE).total_usd  # type: ignore[union-attr]
              for p, m in [("openai", "gpt-4o"), ("openai", "gpt-4o-2024-08-06"), ("openai", "openai/gpt-4o"),
                           (None, "GPT-4o"), ("openai", " gpt-4o ")]}
    assert totals == {(1000 * Decimal("2.5") + 100 * Decimal("10")) / M}


def test_unknown_model_no_cost_one_warning_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    book = PriceBook.default()
    with caplog.at_level(logging.WARNING, logger="agentwatch.pricing"):
        for _ in range(5):
            assert book.price("acme", "acme-llm-9000", USAGE) is None
        assert book.price("acme", "acme-llm-9001", USAGE) is None
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2
    assert "acme-llm-9000" in warnings[0] and "prices=" in warnings[0] and "AGENTWATCH_PRICES_FILE" in warnings[0]
    assert book.unpriced == {("acme", "acme-llm-9000"): 5, ("acme", "acme-llm-9001"): 1}
    assert book.unpriced_total() == 6
    assert book.model_label("acme", "acme-llm-9000-2025-01-31") == "acme-llm-9000"


@pytest.mark.parametrize("provider", ["ollama", "vllm"])
def test_self_hosted_models_are_never_given_a_hosted_price(provider: str) -> None:
    assert PriceBook.default().price(provider, "gpt-oss-20b", USAGE) is None
    assert PriceBook.default().price("openai", "gpt-oss-20b", USAGE) is not None


def test_unpriced_call_through_the_recorder(tel: Captured) -> None:
    @agentwatch.track_inference(provider="acme", model="acme-llm")
    def ask() -> dict[str, Any]:
        return {"model": "acme-llm-2025-01-01", "usage": {"prompt_tokens": 10, "completion_tokens": 2}}

    ask()
    ask()
    a = tel.spans_named("chat acme-llm")[0].attributes or {}
    assert a["gen_ai.usage.input_tokens"] == 10
    assert "agentwatch.cost.usd" not in a  # never $0
    assert tel.sample("agentwatch_unpriced_calls_total", provider="acme", model="acme-llm") == 2
    assert tel.sample("agentwatch_llm_cost_usd_total", provider="acme", model="acme-llm", operation="chat") is None


def test_replay_uses_the_price_of_the_call_time() -> None:
    u = Usage(input_tokens=10_000, output_tokens=1_000)
    old = estimate_cost("openai", "o3", u, at=datetime(2025, 6, 9, 23, 59, tzinfo=timezone.utc))
    new = estimate_cost("openai", "o3", u, at=datetime(2025, 6, 10, 0, 0, tzinfo=timezone.utc))
    naive = estimate_cost("openai", "o3", u, at=datetime(2025, 6, 9, 23, 59))  # naive = UTC
    now = estimate_cost("openai", "o3", u)
    assert old is not None and new is not None and now is not None
    assert old.total_usd == (10_000 * 10 + 1_000 * 40) / M
    assert new.total_usd == now.total_usd == (10_000 * 2 + 1_000 * 8) / M
    assert naive == old


def test_replayed_span_is_priced_at_its_own_date(tel: Captured) -> None:
    """The recorder prices a call that started long ago (a replayed trace) at that day's price."""
    from agentwatch.config import current
    from agentwatch.records import Inference

    recorder = current().recorder  # type: ignore[union-attr]
    start = datetime(2025, 5, 1, 12, tzinfo=timezone.utc)
    call = recorder.start(Inference(provider="openai", model="o3"),
                          start_ns=int(start.timestamp() * 1e9))
    call.record_usage(input_tokens=10_000, output_tokens=1_000)
    recorder.finish(call, end_ns=int((start + timedelta(seconds=3)).timestamp() * 1e9))
    a = tel.span("chat o3").attributes or {}
    assert a["agentwatch.cost.usd"] == pytest.approx((10_000 * 10 + 1_000 * 40) / 1e6)


def test_time_of_day_prices() -> None:
    u = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    day = estimate_cost("deepseek", "deepseek-chat", u, at=datetime(2025, 3, 3, 16, 29, tzinfo=timezone.utc))
    night = estimate_cost("deepseek", "deepseek-chat", u, at=datetime(2025, 3, 3, 16, 30, tzinfo=timezone.utc))
    assert day is not None and night is not None
    assert (day.total_usd, night.total_usd) == (Decimal("1.37"), Decimal("0.685"))


@pytest.mark.parametrize(("provider", "model", "bad"), [
    ("openai", "gpt-4o", Usage(input_tokens=10, output_tokens=1, cache_read_tokens=11)),
    ("openai", "gpt-4o", Usage(input_tokens=10, output_tokens=1, cache_read_tokens=6, cache_write_tokens=6)),
    ("anthropic", "claude-haiku-4-5", Usage(input_tokens=10, output_tokens=1, cache_write_tokens=11)),
    ("anthropic", "claude-haiku-4-5", Usage(input_tokens=10, cache_write_tokens=2, cache_write_1h_tokens=3)),
    ("gcp.gemini", "gemini-2.5-flash", Usage(input_tokens=10, output_tokens=1, input_audio_tokens=11)),
    ("gcp.gemini", "gemini-2.5-pro", Usage(input_tokens=300_000, cache_read_tokens=300_001)),
])
def test_inconsistent_usage_is_left_unpriced_and_counted(provider: str, model: str, bad: Usage) -> None:
    errors.reset()
    assert estimate_cost(provider, model, bad) is None
    assert errors.counts() == {"pricing": 1}


def test_cost_is_a_plain_cost_to_its_users() -> None:
    cost = estimate_cost("anthropic", "claude-haiku-4-5", Usage(input_tokens=5000, output_tokens=100,
                                                                  cache_read_tokens=4000))
    assert isinstance(cost, Cost)
    assert cost.input_usd == Decimal("0.0014") and cost.output_usd == Decimal("0.0005")
    assert cost.total_usd == Decimal("0.0019") and cost.total == pytest.approx(0.0019)
    plain = Cost(cost.input_usd, cost.output_usd, cost.total_usd, cost.source, cost.tier, cost.estimated_tokens,
                 cost.total, cost.input, cost.output)
    assert cost == plain and plain == cost and hash(cost) == hash(plain)
    assert repr(cost) == repr(plain)
    assert pickle.loads(pickle.dumps(cost)) == plain
    assert copy.deepcopy(cost) == plain
    replaced = dataclasses.replace(cost, tier="x")
    assert type(replaced) is Cost and replaced.tier == "x" and replaced.total_usd == cost.total_usd
    with pytest.raises(dataclasses.FrozenInstanceError):
        cost.tier = "y"  # type: ignore[misc]


def test_default_book_follows_configure_and_set_default_book() -> None:
    override = {"models": [{"model": "gpt-4o", "input": 1, "output": 1}]}
    assert get_default_book() is get_default_book()
    with agentwatch.testing.capture(prices=override):
        cost = estimate_cost("openai", "gpt-4o", USAGE)
        assert cost is not None and cost.source == "override:prices"
    mine = PriceBook.from_source({"name": "mine", "models": [{"model": "gpt-4o", "input": 3}]})
    set_default_book(mine)
    try:
        assert get_default_book() is mine
        assert estimate_cost("openai", "gpt-4o", USAGE).source == "override:mine"  # type: ignore[union-attr]
    finally:
        set_default_book(None)
    assert estimate_cost("openai", "gpt-4o", USAGE).source.startswith("genai-prices")  # type: ignore[union-attr]


def test_describe() -> None:
    d = PriceBook.default().describe("claude-sonnet-4-20250514", "anthropic")
    assert d is not None
    assert d.label == "claude-sonnet-4-0" and d.provider == "anthropic"
    assert dict(d.rates[0][1])["input"] == Decimal(3)
    assert d.rates[1][0] == "input_tokens>200000" and dict(d.rates[1][1])["output"] == Decimal("22.5")
    assert d.note is not None and "200K" in d.note
    assert PriceBook.default().describe("nope-model") is None


def test_cached_price_windows_agree_with_genai_at_every_time() -> None:
    """Lookups reuse the last period while it holds; jumping around in time must never reuse a stale one."""
    import random

    import genai_prices

    book = PriceBook.default()
    u = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    g = genai_prices.Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    start = datetime(2025, 6, 8, 0, 0, 13, tzinfo=timezone.utc)
    moments = [start + timedelta(minutes=m) for m in range(0, 4 * 24 * 60, 37)]
    random.Random(5).shuffle(moments[len(moments) // 2:])  # in order first, then jumping around
    for provider, model in (("deepseek", "deepseek-chat"), ("openai", "o3")):
        for at in moments:
            ours = book.price(provider, model, u, at)
            ref = genai_prices.calc_price(g, model, provider_id=provider, genai_request_timestamp=at)
            assert ours is not None and ours.total_usd == ref.total_price, (model, at)
