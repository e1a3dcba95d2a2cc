"""The compiled integer rates equal genai-prices' Decimal ``calc_price`` for every model and period."""

from __future__ import annotations

import random
from datetime import datetime, timezone

from genai_prices import data_snapshot, types

from agentwatch import Usage
from agentwatch.pricing._genai import SOURCE, rate_table
from agentwatch.pricing._rates import Compiled

from .reference import genai_calc_price


def _usages(rng: random.Random, tiered: bool) -> list[Usage]:
    """One random consistent usage; above every tier threshold for a tiered price."""
    out = []
    for big in (tiered or rng.random() < 0.2,):
        inp = rng.randint(250_001, 2_000_000) if big else rng.randint(1, 200_000)
        read = rng.randint(0, inp // 3)
        write = rng.randint(0, inp // 3)
        audio = rng.randint(0, (inp - read - write) // 3)
        image = rng.randint(0, (inp - read - write) // 3)
        out_tokens = rng.randint(0, 50_000)
        out_audio = rng.randint(0, out_tokens // 4)
        out.append(Usage(
            input_tokens=inp, output_tokens=out_tokens, cache_read_tokens=read, cache_write_tokens=write,
            cache_write_1h_tokens=rng.randint(0, write), reasoning_tokens=rng.randint(0, out_tokens - out_audio),
            input_audio_tokens=audio, input_image_tokens=image, output_audio_tokens=out_audio,
        ))
    return out


def _periods(info: types.ModelInfo) -> list[types.ModelPrice]:
    if isinstance(info.prices, types.ModelPrice):
        return [info.prices]
    return [c.prices for c in info.prices]


def test_every_model_and_period_matches_calc_price() -> None:
    rng = random.Random(20261123)
    checked = 0
    mismatches = []
    for provider in data_snapshot.get_snapshot().providers:
        for info in provider.models:
            for mp in _periods(info):
                table = rate_table(mp)
                compiled = Compiled(table, SOURCE)
                for u in _usages(rng, bool(table.tiers)):
                    ours = compiled.cost(u)
                    ref = genai_calc_price(mp, u)
                    checked += 1
                    if (ours.input_usd, ours.output_usd, ours.total_usd) != ref:
                        mismatches.append((provider.id, info.id, u, (ours.input_usd, ours.output_usd), ref))
    assert checked > 2_500
    assert mismatches == []


def test_price_periods_follow_genai_dates() -> None:
    snap = data_snapshot.get_snapshot()
    _, info = snap.find_provider_model("o3", None, "openai", None)
    before = info.get_prices(datetime(2025, 6, 9, 23, 59, tzinfo=timezone.utc))
    after = info.get_prices(datetime(2025, 6, 10, 0, 0, tzinfo=timezone.utc))
    assert before is not after
