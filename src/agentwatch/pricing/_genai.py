"""Reading the genai-prices data: provider/model resolution and conversion to :class:`RateTable`.

Only this module imports ``genai_prices``. Its bundled snapshot is used as is (no updater, no
network): prices are looked up by the call's timestamp.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from agentwatch.pricing._rates import RATE_FIELDS, RateTable, Tier

try:
    SOURCE = f"genai-prices {version('genai-prices')}"
except PackageNotFoundError:  # pragma: no cover - a vendored copy without metadata
    SOURCE = "genai-prices"

_KEYS = {
    "input_mtok": "input",
    "output_mtok": "output",
    "cache_read_mtok": "cache_read",
    "cache_write_1h_mtok": "cache_write_1h",
    "input_audio_mtok": "input_audio",
    "output_audio_mtok": "output_audio",
    "input_image_mtok": "input_image",
    "output_reasoning_mtok": "reasoning",
}


def snapshot() -> Any:
    from genai_prices import data_snapshot

    return data_snapshot.get_snapshot()


def find_provider_id(provider: str) -> str | None:
    """The genai-prices provider id for ``provider`` (its own ids and aliases), or None."""
    from genai_prices.data_snapshot import find_provider_by_id

    found = find_provider_by_id(snapshot().providers, provider)
    return None if found is None else str(found.id)


def find(model: str, provider_id: str | None) -> tuple[Any, Any] | None:
    """(Provider, ModelInfo) for ``model`` (``provider_id`` None: guess the provider from the name)."""
    try:
        return tuple(snapshot().find_provider_model(model, None, provider_id, None))  # type: ignore[return-value]
    except LookupError:
        return None


def _field_prices(model_price: Any) -> dict[str, Any]:
    """genai-prices price keys -> our rate fields (values: Decimal or TieredPrices)."""
    raw = {k: v for k, v in model_price.__dict__.items() if not k.startswith("_") and v is not None}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _KEYS:
            out[_KEYS[key]] = value
    # The 5-minute write rate is the plain write rate when both exist (the unit tree prices the more
    # specific unit); a missing 1h rate then falls back to the generic write rate.
    if "cache_write_5m_mtok" in raw:
        out["cache_write"] = raw["cache_write_5m_mtok"]
        if "cache_write_mtok" in raw and "cache_write_1h" not in out:
            out["cache_write_1h"] = raw["cache_write_mtok"]
    elif "cache_write_mtok" in raw:
        out["cache_write"] = raw["cache_write_mtok"]
    if "requests_kcount" in raw:
        out["per_request"] = _scaled(raw["requests_kcount"], Decimal(1) / Decimal(1000))
    return out


def _scaled(value: Any, factor: Decimal) -> Any:
    from genai_prices.types import Tier as GTier
    from genai_prices.types import TieredPrices

    if isinstance(value, TieredPrices):
        tiers = [GTier(t.start, t.price * factor) for t in value.tiers]
        return TieredPrices(base=value.base * factor, tiers=tiers)
    return value * factor


def rate_table(model_price: Any) -> RateTable:
    """Convert one genai-prices ``ModelPrice`` into a :class:`RateTable` (tiers become bands)."""
    from genai_prices.types import TieredPrices

    fields = _field_prices(model_price)
    base: dict[str, Decimal | None] = dict.fromkeys(RATE_FIELDS)
    starts: set[int] = set()
    for name, value in fields.items():
        if isinstance(value, TieredPrices):
            base[name] = value.base
            starts.update(t.start for t in value.tiers)
        else:
            base[name] = value
    tiers = []
    for start in sorted(starts):
        rates: dict[str, Decimal] = {}
        for name, value in fields.items():
            if isinstance(value, TieredPrices):
                applicable = value.base
                for t in sorted(value.tiers, key=lambda t: t.start):
                    if t.start <= start:
                        applicable = t.price
                rates[name] = applicable
        tiers.append(Tier(above_input_tokens=start, rates=rates))
    inp = base.pop("input")
    return RateTable(input=inp if inp is not None else Decimal(0), tiers=tuple(tiers), **base)


def has_time_of_day(info: Any) -> bool:
    from genai_prices.types import TimeOfDateConstraint

    prices = info.prices
    return isinstance(prices, list) and any(isinstance(c.constraint, TimeOfDateConstraint) for c in prices)


def start_dates(info: Any) -> list[datetime]:
    """UTC midnights where this model's price changes (genai-prices ``StartDateConstraint``)."""
    from genai_prices.types import StartDateConstraint

    prices = info.prices
    if not isinstance(prices, list):
        return []
    dates = {c.constraint.start_date for c in prices if isinstance(c.constraint, StartDateConstraint)}
    return [datetime(d.year, d.month, d.day, tzinfo=timezone.utc) for d in sorted(dates)]


def prices_at(info: Any, at: datetime) -> Any:
    """The ``ModelPrice`` in force at ``at`` (genai-prices' own rule)."""
    return info.get_prices(at)


def start_epochs(info: Any) -> list[float]:
    return [d.timestamp() for d in start_dates(info)]


def time_of_day_bounds(info: Any) -> list[float]:
    """Seconds after UTC midnight where one of this model's time-of-day prices starts or ends."""
    from genai_prices.types import TimeOfDateConstraint

    prices = info.prices
    out: set[float] = set()
    if isinstance(prices, list):
        for c in prices:
            if isinstance(c.constraint, TimeOfDateConstraint):
                for t in (c.constraint.start_time, c.constraint.end_time):
                    offset = t.utcoffset() if t.tzinfo is not None else None
                    seconds = t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6
                    if offset is not None:
                        seconds -= offset.total_seconds()
                    out.add(seconds % 86_400)
    return sorted(out)
