"""The verification table: 30 calls priced by hand from the providers' published per-million prices.

Every expected cost below is computed in the test from the rates written next to it (USD per 1M
tokens, as published by OpenAI, Anthropic, Google, Mistral and DeepSeek), never by calling the code
under test. Each row is also checked against genai-prices' own ``calc_price`` (the slow reference
we compile from), except where our correction layer deliberately differs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal

import pytest

import agentwatch
from agentwatch import Usage
from agentwatch.pricing import PriceBook

from .reference import genai_calc

M = Decimal(1_000_000)
UTC = timezone.utc
AFTER_O3_CUT = datetime(2025, 7, 1, 12, tzinfo=UTC)
BEFORE_O3_CUT = datetime(2025, 5, 1, 12, tzinfo=UTC)
PEAK = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)  # DeepSeek standard hours (00:30-16:30 UTC)
OFF_PEAK = datetime(2025, 3, 3, 20, 0, tzinfo=UTC)  # DeepSeek off-peak: half price


@dataclass(frozen=True)
class Published:
    """Published USD per 1M tokens. ``cache_write`` is the 5-minute write (Anthropic)."""

    input: str
    output: str = "0"
    cache_read: str | None = None
    cache_write: str | None = None
    cache_write_1h: str | None = None


@dataclass(frozen=True)
class Row:
    provider: str
    model: str
    rates: Published
    usage: Usage
    at: datetime | None = None
    tier: str | None = None
    corrected: bool = False
    note: str = field(default="")

    @property
    def id(self) -> str:
        return f"{self.provider}:{self.model}" + (f"@{self.at.isoformat()}" if self.at else "") \
            + (f"[{self.note}]" if self.note else "")


def by_hand(rates: Published, u: Usage) -> tuple[Decimal, Decimal]:
    """Input and output USD of ``u`` at ``rates``: each token counted exactly once."""
    inp = Decimal(rates.input)
    cr = Decimal(rates.cache_read) if rates.cache_read is not None else inp
    cw = Decimal(rates.cache_write) if rates.cache_write is not None else inp
    cw1h = Decimal(rates.cache_write_1h) if rates.cache_write_1h is not None else cw
    uncached = u.input_tokens - u.cache_read_tokens - u.cache_write_tokens
    five_minute = u.cache_write_tokens - u.cache_write_1h_tokens
    input_usd = (uncached * inp + u.cache_read_tokens * cr + five_minute * cw
                 + u.cache_write_1h_tokens * cw1h) / M
    output_usd = u.output_tokens * Decimal(rates.output) / M  # reasoning is part of output
    return input_usd, output_usd


def U(inp: int, out: int = 0, *, read: int = 0, write: int = 0, write_1h: int = 0,
      reasoning: int = 0) -> Usage:
    return Usage(input_tokens=inp, output_tokens=out, cache_read_tokens=read, cache_write_tokens=write,
                 cache_write_1h_tokens=write_1h, reasoning_tokens=reasoning)


P = Published
SONNET_LONG = P("6", "22.50", "0.60", "7.50", "12")
TABLE: list[Row] = [
    # --- OpenAI chat ---------------------------------------------------------------------------------
    Row("openai", "gpt-4o-2024-08-06", P("2.50", "10.00", "1.25"), U(1000, 200, read=400)),
    Row("openai", "gpt-4o-2024-05-13", P("5.00", "15.00"), U(12_000, 800)),
    Row("openai", "gpt-4o-mini-2024-07-18", P("0.15", "0.60", "0.075"), U(50_000, 1_500, read=32_768)),
    Row("openai", "gpt-4.1", P("2.00", "8.00", "0.50"), U(120_000, 4_000, read=100_000)),
    Row("openai", "gpt-4.1-mini", P("0.40", "1.60", "0.10"), U(8_000, 900, read=2_048)),
    Row("openai", "gpt-4.1-nano", P("0.10", "0.40", "0.025"), U(3_000, 300, read=1_024)),
    Row("openai", "gpt-3.5-turbo", P("0.50", "1.50"), U(700, 150)),
    # --- OpenAI reasoning (reasoning tokens are billed as output) -----------------------------------
    Row("openai", "gpt-5", P("1.25", "10.00", "0.125"), U(20_000, 6_000, read=8_000, reasoning=5_000)),
    Row("openai", "gpt-5-mini", P("0.25", "2.00", "0.025"), U(9_000, 3_000, read=1_000, reasoning=2_500)),
    Row("openai", "o4-mini", P("1.10", "4.40", "0.275"), U(5_000, 2_000, read=1_024, reasoning=1_800)),
    Row("openai", "o1", P("15.00", "60.00", "7.50"), U(2_000, 4_000, read=1_024, reasoning=3_500)),
    Row("openai", "o3-mini", P("1.10", "4.40", "0.55"), U(4_000, 1_000, reasoning=700)),
    # a dated price change: o3 was cut from $10/$40 to $2/$8 on 2025-06-10
    Row("openai", "o3", P("10.00", "40.00"), U(10_000, 3_000, reasoning=2_000), at=BEFORE_O3_CUT,
        note="before the cut"),
    Row("openai", "o3-2025-04-16", P("2.00", "8.00"), U(10_000, 3_000, reasoning=2_000), at=AFTER_O3_CUT,
        note="after the cut"),
    # --- OpenAI embeddings ----------------------------------------------------------------------------
    Row("openai", "text-embedding-3-small", P("0.02"), U(1_000_000)),
    Row("openai", "text-embedding-3-large", P("0.13"), U(250_000)),
    Row("openai", "text-embedding-ada-002", P("0.10"), U(80_000)),
    # --- Anthropic: cache reads, 5-minute and 1-hour writes --------------------------------------------
    Row("anthropic", "claude-opus-4-1-20250805", P("15", "75", "1.50", "18.75", "30"),
        U(30_000, 2_000, read=10_000, write=6_000, write_1h=2_000)),
    Row("anthropic", "claude-opus-4-5-20251101", P("5", "25", "0.50", "6.25", "10"),
        U(40_000, 3_000, read=25_000, write=5_000, write_1h=5_000)),
    Row("anthropic", "claude-sonnet-4-5-20250929", P("3", "15", "0.30", "3.75", "6"),
        U(60_000, 1_200, read=50_000, write=4_000, write_1h=1_000)),
    Row("anthropic", "claude-haiku-4-5-20251001", P("1", "5", "0.10", "1.25", "2"),
        U(5_000, 100, read=4_000)),
    Row("anthropic", "claude-3-5-haiku-20241022", P("0.80", "4", "0.08", "1", "1.6"),
        U(9_000, 700, read=3_000, write=2_000)),
    Row("anthropic", "claude-3-haiku-20240307", P("0.25", "1.25", "0.03", "0.30"),
        U(20_000, 2_000, read=12_000, write=4_000)),
    # --- long-context tiers: above 200K input tokens every token pays the tier rate ------------------
    Row("anthropic", "claude-sonnet-4-5-20250929", SONNET_LONG,
        U(300_000, 5_000, read=150_000, write=20_000, write_1h=10_000), tier="input_tokens>200000",
        note="long context"),
    Row("anthropic", "claude-sonnet-4-20250514", SONNET_LONG, U(250_000, 2_000, read=100_000, write=10_000),
        tier="input_tokens>200000", corrected=True, note="long context, corrected"),
    Row("anthropic", "claude-sonnet-4-20250514", P("3", "15", "0.30", "3.75", "6"),
        U(199_999, 2_000, read=100_000, write=10_000), corrected=True, note="just under the threshold"),
    # --- Google Gemini ------------------------------------------------------------------------------------
    Row("gcp.gemini", "gemini-2.5-pro", P("1.25", "10.00"), U(150_000, 8_000, reasoning=6_000)),
    Row("gcp.gemini", "gemini-2.5-pro", P("2.50", "15.00"), U(400_000, 8_000), tier="input_tokens>200000",
        note="long context"),
    Row("gcp.vertex_ai", "models/gemini-2.5-flash", P("0.30", "2.50"), U(30_000, 2_000, reasoning=1_000)),
    Row("gcp.gemini", "gemini-2.0-flash", P("0.10", "0.40"), U(100_000, 5_000)),
    Row("gcp.gemini", "gemini-2.5-flash-lite", P("0.10", "0.40"), U(60_000, 3_000)),
    # --- others: Bedrock ids, Mistral, DeepSeek's time-of-day prices -----------------------------------
    Row("aws.bedrock", "us.anthropic.claude-3-5-sonnet-20241022-v2:0", P("3", "15", "0.30", "3.75"),
        U(10_000, 1_000, read=6_000, write=2_000)),
    Row("mistral_ai", "mistral-large-latest", P("2", "6"), U(10_000, 2_000)),
    Row("deepseek", "deepseek-chat", P("0.27", "1.10", "0.07"), U(20_000, 1_000, read=16_000), at=PEAK,
        note="standard hours"),
    Row("deepseek", "deepseek-chat", P("0.135", "0.55", "0.035"), U(20_000, 1_000, read=16_000),
        at=OFF_PEAK, note="off-peak"),
]

MODELS = sorted({(r.provider, r.model) for r in TABLE})


def test_table_covers_what_the_issue_asks() -> None:
    assert len(MODELS) >= 25
    assert any(r.usage.reasoning_tokens for r in TABLE)
    assert any(r.usage.cache_write_1h_tokens and r.provider == "anthropic" for r in TABLE)
    assert any(r.tier for r in TABLE) and any(r.at for r in TABLE)


@pytest.mark.parametrize("row", TABLE, ids=lambda r: r.id)
def test_cost_matches_published_prices(row: Row) -> None:
    cost = agentwatch.estimate_cost(row.provider, row.model, row.usage, at=row.at)
    assert cost is not None, f"{row.model} should be priced"
    input_usd, output_usd = by_hand(row.rates, row.usage)
    assert cost.input_usd == input_usd
    assert cost.output_usd == output_usd
    assert cost.total_usd == input_usd + output_usd
    assert cost.total == pytest.approx(float(input_usd + output_usd), rel=1e-12)
    assert cost.input == pytest.approx(float(input_usd), rel=1e-12)
    assert cost.tier == row.tier
    assert cost.estimated_tokens is False
    assert cost.source.startswith("genai-prices 0.")
    assert cost.source.endswith("+agentwatch-corrections") == row.corrected


@pytest.mark.parametrize("row", [r for r in TABLE if not r.corrected], ids=lambda r: r.id)
def test_compiled_equals_genai_calc_price(row: Row) -> None:
    book = PriceBook.default()
    ours = book.price(row.provider, row.model, row.usage, row.at)
    resolved = book._cache[(row.provider, row.model)]
    ref = genai_calc(resolved.info, row.usage, row.at)
    assert ours is not None
    assert (ours.input_usd, ours.output_usd, ours.total_usd) == ref


def test_corrected_rows_differ_from_genai_only_above_the_threshold() -> None:
    book = PriceBook.default()
    for row in (r for r in TABLE if r.corrected):
        ours = book.price(row.provider, row.model, row.usage, row.at)
        ref = genai_calc(book._cache[(row.provider, row.model)].info, row.usage, row.at)
        assert ours is not None
        assert ((ours.input_usd, ours.output_usd, ours.total_usd) == ref) == (row.tier is None)


def test_estimated_tokens_carry_into_the_cost() -> None:
    u = Usage(input_tokens=1000, output_tokens=10, estimated=True)
    cost = agentwatch.estimate_cost("openai", "gpt-4o", u)
    assert cost is not None and cost.estimated_tokens is True
    assert cost.total_usd == (1000 * Decimal("2.50") + 10 * Decimal("10")) / M
