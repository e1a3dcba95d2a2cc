"""Corrections to the default price source, where it is known to miss a published price.

Each correction names the genai-prices provider and model id it patches, what it adds, and where
the published price comes from. Corrected prices carry the source ``<genai-prices version>
+agentwatch-corrections`` so a dashboard can tell them apart. Keep this list short and tested
(tests/pricing/test_corrections.py); drop an entry once the upstream data has it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from agentwatch.pricing._rates import Tier

SUFFIX = "+agentwatch-corrections"


@dataclass(frozen=True)
class Correction:
    provider_id: str
    model_id: str
    tiers: tuple[Tier, ...]
    reason: str


_SONNET_4_LONG_CONTEXT = Tier(
    above_input_tokens=200_000,
    rates={
        "input": Decimal("6"),
        "output": Decimal("22.5"),
        "cache_read": Decimal("0.6"),
        "cache_write": Decimal("7.5"),
        "cache_write_1h": Decimal("12"),
    },
)

CORRECTIONS: tuple[Correction, ...] = (
    Correction(
        provider_id="anthropic",
        model_id="claude-sonnet-4-0",
        tiers=(_SONNET_4_LONG_CONTEXT,),
        reason=(
            "Claude Sonnet 4 bills the whole request at long-context rates once input exceeds 200K "
            "tokens ($6 input / $22.50 output per MTok; the cache multipliers 0.1x read, 1.25x 5m "
            "write, 2x 1h write apply on top), as Claude Sonnet 4.5 does; genai-prices 0.2.3 has "
            "no tier for Sonnet 4."
        ),
    ),
)

_BY_KEY = {(c.provider_id, c.model_id): c for c in CORRECTIONS}


def correction_for(provider_id: str, model_id: str) -> Correction | None:
    return _BY_KEY.get((provider_id, model_id))
