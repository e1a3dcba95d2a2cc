"""The priced result of one call, with where the numbers came from."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Cost:
    """Estimated USD cost of one call.

    ``source`` names the price data (``genai-prices 0.2.3``, or ``override:<name>``); ``tier`` is
    the price tier that applied (e.g. a long-context tier), if any; ``estimated_tokens`` is true
    when the token counts behind the cost were counted by agentwatch rather than reported.
    ``total`` is ``float(total_usd)``, kept for hot-path consumers (metrics, span attributes).
    """

    input_usd: Decimal
    output_usd: Decimal
    total_usd: Decimal
    source: str
    tier: str | None = None
    estimated_tokens: bool = False
    total: float = 0.0
    input: float = 0.0
    output: float = 0.0
