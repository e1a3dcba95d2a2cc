"""The price book: (provider, model, usage, time) -> :class:`~agentwatch.cost.Cost`, fast and honest.

A lookup resolves the names once (overrides first, then the genai-prices data with its
corrections), compiles every price period of the model into integer rates and caches the result
under the exact (provider, model) strings it was asked for. Repeat lookups are a dict hit, a time
check only for models whose price changes over time, and integer arithmetic.
"""

from __future__ import annotations

import bisect
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from agentwatch import errors
from agentwatch.cost import Cost
from agentwatch.errors import ConfigurationError
from agentwatch.pricing import _genai, _names
from agentwatch.pricing._corrections import SUFFIX, correction_for
from agentwatch.pricing._overrides import PriceFile, PriceSpec, load_file, parse
from agentwatch.pricing._rates import Compiled, RateTable, describe_rates, merge_tiers
from agentwatch.usage import Usage

logger = logging.getLogger("agentwatch.pricing")

_MAX_CACHED = 4096
_MAX_WARNED = 1000
_NEVER = float("-inf")
_now = time.time
_FOREVER = float("inf")

#: publishers tried, in order, for a model whose provider is unknown or does not list it
_PUBLISHERS = ("openai", "anthropic", "google", "mistral", "x-ai", "deepseek", "cohere")
#: providers that run models on your own hardware: no published price applies, only an override
_SELF_HOSTED = frozenset({"ollama", "vllm", "llama.cpp", "llamacpp", "lmstudio", "local", "tgi",
                          "huggingface_local", "llamafile"})


def _epoch(at: datetime) -> float:
    if at.tzinfo is None:  # naive timestamps are UTC (as in genai-prices)
        at = at.replace(tzinfo=timezone.utc)
    return at.timestamp()


class _Periods:
    """Compiled prices over time: ``starts[k]`` is when ``prices[k + 1]`` takes over."""

    __slots__ = ("only", "prices", "starts")

    def __init__(self, starts: Sequence[float], prices: Sequence[Compiled | None]) -> None:
        self.starts = list(starts)
        self.prices = list(prices)
        self.only = self.prices[0] if not self.starts else None

    def window(self, ts: float) -> tuple[Compiled | None, float, float]:
        """The price at ``ts`` and the interval [lo, hi) it holds for."""
        k = bisect.bisect_right(self.starts, ts)
        lo = self.starts[k - 1] if k > 0 else _NEVER
        hi = self.starts[k] if k < len(self.starts) else _FOREVER
        return self.prices[k], lo, hi


class _TimeOfDay:
    """A model whose price depends on the time of day (off-peak rates)."""

    __slots__ = ("bounds", "compiled", "info", "source")
    only = None

    def __init__(self, info: Any, source: str) -> None:
        self.info = info
        self.source = source
        self.compiled: dict[int, tuple[Any, Compiled]] = {}
        # seconds after UTC midnight where some price starts or ends, plus the dated changes
        self.bounds = _genai.time_of_day_bounds(info)

    def window(self, ts: float) -> tuple[Compiled | None, float, float]:
        mp = _genai.prices_at(self.info, datetime.fromtimestamp(ts, tz=timezone.utc))
        hit = self.compiled.get(id(mp))
        if hit is None or hit[0] is not mp:
            hit = (mp, Compiled(_genai.rate_table(mp), self.source))
            self.compiled[id(mp)] = hit
        day = ts - ts % 86_400
        points = [day - 86_400 + b for b in self.bounds] + [day + b for b in self.bounds] \
            + [day + 86_400 + b for b in self.bounds] + _genai.start_epochs(self.info)
        lo = max((p for p in points if p <= ts), default=_NEVER)
        hi = min((p for p in points if p > ts), default=_FOREVER)
        return hit[1], lo, hi


@dataclass(slots=True)
class _Resolved:
    """What a (provider, model) pair resolved to."""

    label: str
    provider_id: str | None = None
    model_id: str | None = None
    source_kind: str = "unpriced"  # "override", "genai", "unpriced"
    periods: _Periods | _TimeOfDay | None = None
    fallback: _Periods | _TimeOfDay | None = None  # genai prices outside an override's periods
    only: Compiled | None = None
    info: Any = None
    correction: str | None = None
    override: list[PriceSpec] = field(default_factory=list)
    # the interval [lo, hi) the last price looked up over time holds for, and that price
    window: tuple[float, float, Compiled | None] = (0.0, 0.0, None)

    def at(self, at: datetime | None) -> Compiled | None:
        ts = time.time() if at is None else _epoch(at)
        lo, hi, last = self.window  # one tuple, swapped whole: safe to read from any thread
        if lo <= ts < hi:  # the period of the previous lookup still holds
            return last
        found: Compiled | None = None
        lo, hi = _NEVER, _FOREVER
        for periods in (self.periods, self.fallback):
            if periods is None:
                continue
            found, p_lo, p_hi = periods.window(ts)
            lo, hi = max(lo, p_lo), min(hi, p_hi)
            if found is not None:
                break
        self.window = (lo, hi, found)
        return found


@dataclass(frozen=True)
class PriceDescription:
    """What ``agentwatch prices MODEL`` shows: the resolved model, its source, rates and history."""

    provider: str | None
    model: str
    label: str
    source: str
    rates: list[tuple[str, list[tuple[str, Decimal]]]]
    history: list[tuple[str, list[tuple[str, list[tuple[str, Decimal]]]]]]
    note: str | None = None
    context_window: int | None = None


class PriceBook:
    """Resolves model prices: user overrides first, then genai-prices (with documented corrections).

    ``price(provider, model, usage, at)`` is the recorder's price function. It returns ``None`` --
    never ``$0`` -- for a model it cannot price, logs one warning per model saying how to add a
    price, and counts it (:attr:`unpriced`).
    """

    def __init__(
        self,
        overrides: Sequence[PriceSpec] = (),
        *,
        aliases: Mapping[str, str] | None = None,
        name: str | None = None,
        use_default_source: bool = True,
    ) -> None:
        self.name = name
        self.use_default_source = use_default_source
        self.aliases = {k.strip().lower(): v for k, v in (aliases or {}).items()}
        self._overrides: dict[str, list[PriceSpec]] = {}
        for spec in overrides:
            self._overrides.setdefault(spec.model.strip().lower(), []).append(spec)
        self._cache: dict[tuple[str | None, str], _Resolved] = {}
        self._lock = threading.Lock()
        self._warned: set[tuple[str | None, str]] = set()
        self.unpriced: dict[tuple[str | None, str], int] = {}
        self.default_source = _genai.SOURCE

    # --- construction -------------------------------------------------------------------------------
    @classmethod
    def default(cls) -> PriceBook:
        """The genai-prices data bundled with the installed package (plus corrections); no overrides."""
        return cls()

    @classmethod
    def from_source(cls, source: str | os.PathLike[str] | Mapping[str, Any] | PriceBook) -> PriceBook:
        """A book with overrides from a YAML/JSON file path or a mapping (validated now), or ``source``
        itself when it already is a :class:`PriceBook`. Raises :class:`ConfigurationError`."""
        if isinstance(source, PriceBook):
            return source
        if isinstance(source, (str, os.PathLike)):
            parsed, stem = load_file(source)
            return cls._from_parsed(parsed, parsed.name or stem)
        if isinstance(source, Mapping):
            parsed = parse(source, "mapping")
            return cls._from_parsed(parsed, parsed.name or "prices")
        raise ConfigurationError(
            "prices must be a path to a YAML/JSON file, a mapping or a PriceBook, "
            f"not {type(source).__name__}"
        )

    @classmethod
    def _from_parsed(cls, parsed: PriceFile, name: str) -> PriceBook:
        return cls(parsed.models, aliases=parsed.aliases, name=name)

    # --- hot path -----------------------------------------------------------------------------------
    def price(
        self, provider: str | None, model: str, usage: Usage, at: datetime | None = None
    ) -> Cost | None:
        """The cost of one call, or ``None`` if the model has no known price (or usage is inconsistent).

        ``at`` is when the call happened (``None``: now); replayed calls use the price of their time.
        """
        r = self._cache.get((provider, model))
        if r is None:
            r = self._resolve(provider, model)
        c = r.only
        if c is None:
            lo, hi, c = r.window  # the period of the previous lookup, if it still holds
            if at is not None or not lo <= _now() < hi:
                c = r.at(at)
            if c is None:
                self._unpriced(r, provider, model)
                return None
        cost = c.cost(usage)
        if cost is None:
            errors.report("pricing", "usage parts exceed their totals; call left unpriced")
        return cost

    def model_label(self, provider: str | None, model: str) -> str:
        """The model name for metric labels: the price entry's canonical id (``gpt-4o`` for
        ``gpt-4o-2024-08-06``, ``claude-haiku-4-5`` for ``claude-haiku-4-5-20251001``), so dated
        snapshots of one priced model share a series; an unknown model loses only its date suffix."""
        r = self._cache.get((provider, model))
        if r is None:
            r = self._resolve(provider, model)
        return r.label

    # --- resolution ---------------------------------------------------------------------------------
    def _resolve(self, provider: str | None, model: str) -> _Resolved:
        try:
            resolved = self._lookup(provider, model)
        except Exception as exc:  # the price data itself misbehaving must not break a call
            errors.report("pricing", exc)
            resolved = _Resolved(label=model)
        with self._lock:
            if len(self._cache) >= _MAX_CACHED:
                self._cache.clear()
            self._cache[(provider, model)] = resolved
        return resolved

    def _lookup(self, provider: str | None, model: str) -> _Resolved:
        pkey = _names.provider_key(provider)
        names = _names.candidates(model or "")
        alias = next((self.aliases[n] for n in names if n in self.aliases), None)
        if alias is not None:
            if "/" in alias and alias.split("/", 1)[0] in _names.PROVIDER_ALIASES:
                pkey, alias = alias.split("/", 1)
            names = _names.candidates(alias) + names

        genai = self._lookup_genai(pkey, names) if self.use_default_source else None
        specs = self._find_override(pkey, names)
        if specs:
            r = _Resolved(label=specs[0].model, source_kind="override", override=specs,
                          periods=self._override_periods(specs))
            if genai is not None:
                r.fallback = genai.periods
                r.provider_id, r.model_id, r.info = genai.provider_id, genai.model_id, genai.info
            r.only = r.periods.only if r.periods is not None else None
            return r
        if genai is not None:
            return genai
        return _Resolved(label=_names.strip_date(names[0]))

    def _find_override(self, pkey: str | None, names: Sequence[str]) -> list[PriceSpec]:
        if not self._overrides:
            return []
        for n in names:
            specs = self._overrides.get(n)
            if specs:
                matching = [s for s in specs if s.provider is None or pkey is None
                            or _names.provider_key(s.provider) == pkey
                            or _names.PROVIDER_ALIASES.get(_names.provider_key(s.provider) or "")
                            == _names.PROVIDER_ALIASES.get(pkey)]
                if matching:
                    return matching
        return []

    def _override_periods(self, specs: Sequence[PriceSpec]) -> _Periods:
        source = f"override:{self.name or 'prices'}"
        dated = sorted((s for s in specs if s.since is not None), key=lambda s: s.since or 0)
        undated = [s for s in specs if s.since is None]
        first = Compiled(undated[-1].table(), source) if undated else None
        starts = [_epoch(datetime(s.since.year, s.since.month, s.since.day)) for s in dated if s.since]
        prices = [first] + [Compiled(s.table(), source) for s in dated]
        return _Periods(starts, prices)

    def _lookup_genai(self, pkey: str | None, names: Sequence[str]) -> _Resolved | None:
        if pkey in _SELF_HOSTED:
            return None
        provider_ids: list[str | None] = []
        if pkey is not None:
            pid = _names.PROVIDER_ALIASES.get(pkey) or _genai.find_provider_id(pkey)
            if pid is not None:
                provider_ids.append(pid)
            vendor = next((v for n in names if (v := _names.bedrock_vendor(n))), None)
            if vendor is not None and vendor not in provider_ids:
                provider_ids.append(vendor)
        provider_ids.append(None)  # the provider whose name patterns match the model (genai-prices)
        # last resort: the model publishers themselves, in a fixed order (never an aggregator's price)
        provider_ids.extend(p for p in _PUBLISHERS if p not in provider_ids)
        for pid in provider_ids:
            for n in names:
                found = _genai.find(n, pid)
                if found is not None:
                    return self._compile_genai(*found)
        return None

    def _compile_genai(self, provider: Any, info: Any) -> _Resolved:
        fix = correction_for(str(provider.id), str(info.id))
        source = _genai.SOURCE + (SUFFIX if fix is not None else "")

        def table(mp: Any) -> RateTable:
            t = _genai.rate_table(mp)
            return merge_tiers(t, fix.tiers) if fix is not None else t

        if _genai.has_time_of_day(info) and fix is None:
            periods: _Periods | _TimeOfDay = _TimeOfDay(info, source)
        else:
            starts = _genai.start_dates(info)
            points = [datetime(1970, 1, 2, tzinfo=timezone.utc), *starts]
            prices = [Compiled(table(_genai.prices_at(info, p)), source) for p in points]
            periods = _Periods([s.timestamp() for s in starts], prices)
        return _Resolved(
            label=str(info.id), provider_id=str(provider.id), model_id=str(info.id), source_kind="genai",
            periods=periods, only=periods.only, info=info, correction=fix.reason if fix else None,
        )

    def _unpriced(self, r: _Resolved, provider: str | None, model: str) -> None:
        key = (provider, model)
        with self._lock:
            # Bounded like every per-name state: past _MAX_WARNED models the rest share one entry.
            counted = key if key in self.unpriced or len(self.unpriced) < _MAX_WARNED else (None, "other")
            self.unpriced[counted] = self.unpriced.get(counted, 0) + 1
            first = key not in self._warned and len(self._warned) < _MAX_WARNED
            if first:
                self._warned.add(key)
        if first:
            logger.warning(
                "agentwatch: no price for model %r (provider %r): its calls are recorded without cost "
                "and counted in agentwatch_unpriced_calls_total. Add a price with "
                "configure(prices={'models': [{'model': %r, 'input': <USD per 1M>, "
                "'output': <USD per 1M>}]}) or a YAML file in AGENTWATCH_PRICES_FILE (see docs/pricing.md).",
                model, provider, model,
            )

    # --- inspection ---------------------------------------------------------------------------------
    def describe(
        self, model: str, provider: str | None = None, at: datetime | None = None
    ) -> PriceDescription | None:
        """The resolved prices of ``model`` at ``at`` (now by default), or ``None`` if unknown."""
        r = self._cache.get((provider, model)) or self._resolve(provider, model)
        compiled = r.only or r.at(at)
        if compiled is None:
            return None
        history: list[tuple[str, list[tuple[str, list[tuple[str, Decimal]]]]]] = []
        for periods in (r.periods, r.fallback):
            if isinstance(periods, _Periods) and periods.starts:
                bounds = ["before " + _day(periods.starts[0])] + ["from " + _day(s) for s in periods.starts]
                pairs = zip(bounds, periods.prices, strict=True)
                history.extend((b, describe_rates(c.table)) for b, c in pairs if c is not None)
                break
        note = r.correction
        if isinstance(r.periods, _TimeOfDay):
            note = "price depends on the time of day (UTC); shown: the price at the given time"
        return PriceDescription(
            provider=r.provider_id if r.source_kind != "override" else provider,
            model=model, label=r.label, source=compiled.source, rates=describe_rates(compiled.table),
            history=history, note=note,
            context_window=getattr(r.info, "context_window", None) if r.info is not None else None,
        )

    def unpriced_total(self) -> int:
        with self._lock:
            return sum(self.unpriced.values())


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).date().isoformat()
