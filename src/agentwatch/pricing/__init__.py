"""Prices: usage + provider + model + time -> :class:`~agentwatch.cost.Cost`, with provenance.

The default source is the genai-prices data bundled with the installed package (offline, dated
prices, tiers, cache rates), with a short documented correction layer; user overrides (a YAML /
JSON file, a mapping) win over it. See docs/pricing.md.
"""

from __future__ import annotations

import threading
from datetime import datetime

from agentwatch.cost import Cost
from agentwatch.pricing._book import PriceBook, PriceDescription
from agentwatch.pricing._overrides import PriceFile, PriceSpec, TierSpec
from agentwatch.pricing._rates import RateTable, Tier
from agentwatch.usage import Usage

__all__ = [
    "PriceBook",
    "PriceDescription",
    "PriceFile",
    "PriceSpec",
    "RateTable",
    "Tier",
    "TierSpec",
    "estimate_cost",
    "get_default_book",
    "set_default_book",
]

_chosen: PriceBook | None = None  # set_default_book()
_bundled: PriceBook | None = None
_lock = threading.Lock()


def get_default_book() -> PriceBook:
    """The book :func:`estimate_cost` uses: the one given to :func:`set_default_book`, else the one
    :func:`agentwatch.configure` built (with its overrides), else the bundled default."""
    global _bundled
    if _chosen is not None:
        return _chosen
    from agentwatch import config

    tel = config.current()
    if tel is not None and isinstance(tel.price_book, PriceBook):
        return tel.price_book
    book = _bundled
    if book is None:
        with _lock:
            if _bundled is None:
                _bundled = PriceBook.default()
            book = _bundled
    return book


def set_default_book(book: PriceBook | None) -> None:
    """Make ``book`` the one :func:`estimate_cost` uses (``None``: back to the configured / bundled one)."""
    global _chosen
    with _lock:
        _chosen = book


def estimate_cost(provider: str | None, model: str, usage: Usage, at: datetime | None = None) -> Cost | None:
    """The cost of one call with the default book; ``None`` when the model has no known price.

    ``at`` is the call's time (prices change; replaying old traces must use the old price).
    """
    return get_default_book().price(provider, model, usage, at)
