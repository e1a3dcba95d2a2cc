"""The slow reference: genai-prices' own ``calc_price`` on the same usage (test helper)."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from genai_prices import types as gtypes
from genai_prices.units import _get_registry

from agentwatch import Usage


def genai_usage(u: Usage) -> gtypes.Usage:
    """Our usage in genai-prices' unit tree, every other unit explicitly zero."""
    values = dict.fromkeys(_get_registry()._reported_usage_keys, 0)
    values.update(
        input_tokens=u.input_tokens,
        output_tokens=u.output_tokens,
        cache_read_tokens=u.cache_read_tokens,
        cache_write_tokens=u.cache_write_tokens,
        cache_write_1h_tokens=u.cache_write_1h_tokens,
        cache_write_5m_tokens=u.cache_write_tokens - u.cache_write_1h_tokens,
        input_audio_tokens=u.input_audio_tokens,
        output_audio_tokens=u.output_audio_tokens,
        input_image_tokens=u.input_image_tokens,
        output_reasoning_tokens=u.reasoning_tokens,
    )
    return gtypes.Usage(**values)


def genai_calc_price(model_price: Any, u: Usage) -> tuple[Decimal, Decimal, Decimal]:
    got = model_price.calc_price(genai_usage(u))
    return got["input_price"], got["output_price"], got["total_price"]


def genai_calc(info: Any, u: Usage, at: datetime | None) -> tuple[Decimal, Decimal, Decimal]:
    return genai_calc_price(info.get_prices(at or datetime.now(timezone.utc)), u)
