"""Price tables and their compiled, integer form used on the hot path.

A :class:`RateTable` is what a model costs during one price period, in USD per million tokens
(``Decimal``), optionally with long-context tiers. :func:`compile_rates` turns it into a
:class:`Compiled` price: every rate becomes an integer in units of ``10**-exp`` USD per million
tokens and the tiers become bands, so pricing one call is a handful of integer multiplications.

Billing model (the same as genai-prices' unit tree, restricted to what :class:`Usage` carries):
uncached input tokens at ``input``; cache reads at ``cache_read``; cache writes at ``cache_write``
(the 5-minute rate), of which ``cache_write_1h_tokens`` at ``cache_write_1h``; audio / image input
at their rates; output at ``output``, audio output and reasoning at theirs. A missing specific
rate falls back to its parent (cache read -> input, 1h write -> write -> input, reasoning ->
output), so no token is ever priced twice or left out. The tier is chosen by total input tokens
("cliff" pricing: above a threshold every token pays the tier's rate).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from decimal import Context, Decimal
from typing import Any

from agentwatch.cost import Cost
from agentwatch.usage import Usage

_MTOK = 1_000_000
_CTX = Context(prec=200)

#: rate fields of a :class:`RateTable`, in USD per million tokens (``per_request`` in USD per call)
RATE_FIELDS: tuple[str, ...] = (
    "input", "output", "cache_read", "cache_write", "cache_write_1h",
    "input_audio", "output_audio", "input_image", "reasoning", "per_request",
)


@dataclass(frozen=True)
class Tier:
    """Rates that replace the base ones when a call's input tokens exceed ``above_input_tokens``."""

    above_input_tokens: int
    rates: Mapping[str, Decimal]


@dataclass(frozen=True)
class RateTable:
    """What one model costs during one price period (USD per 1M tokens; ``None``: not priced apart)."""

    input: Decimal
    output: Decimal | None = None
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None
    cache_write_1h: Decimal | None = None
    input_audio: Decimal | None = None
    output_audio: Decimal | None = None
    input_image: Decimal | None = None
    reasoning: Decimal | None = None
    per_request: Decimal | None = None
    tiers: tuple[Tier, ...] = field(default=())

    def at_tier(self, tier: Tier | None) -> dict[str, Decimal | None]:
        """The effective rates (fallbacks not yet applied) inside ``tier`` (None: base)."""
        rates: dict[str, Decimal | None] = {name: getattr(self, name) for name in RATE_FIELDS}
        if tier is not None:
            rates.update(tier.rates)
        return rates


def _resolve_fallbacks(r: Mapping[str, Decimal | None]) -> dict[str, Decimal]:
    inp = r["input"] if r["input"] is not None else Decimal(0)
    out = r["output"] if r["output"] is not None else Decimal(0)
    cw = r["cache_write"] if r["cache_write"] is not None else inp
    return {
        "input": inp,
        "output": out,
        "cache_read": r["cache_read"] if r["cache_read"] is not None else inp,
        "cache_write": cw,
        "cache_write_1h": r["cache_write_1h"] if r["cache_write_1h"] is not None else cw,
        "input_audio": r["input_audio"] if r["input_audio"] is not None else inp,
        "input_image": r["input_image"] if r["input_image"] is not None else inp,
        "output_audio": r["output_audio"] if r["output_audio"] is not None else out,
        "reasoning": r["reasoning"] if r["reasoning"] is not None else out,
        "per_request": r["per_request"] if r["per_request"] is not None else Decimal(0),
    }


@dataclass(frozen=True, slots=True)
class Band:
    """Integer coefficients for one tier: cost = sum(tokens x coefficient), in 10**-(6+exp) USD.

    Coefficients are *differences* against the parent rate (a cache read costs ``input`` plus
    ``cr``, which is negative), so the plain ``input_tokens`` total can be multiplied directly.
    """

    above: int
    name: str | None
    i: int
    cr: int
    cw: int
    cw1h: int
    ia: int
    ii: int
    o: int
    oa: int
    r: int
    fixed: int


class Compiled:
    """A compiled price: ``cost(usage)`` in about a microsecond, exact to the last decimal."""

    __slots__ = ("_cr", "_cw", "_cw1h", "_i", "_o", "bands", "base", "cost", "denom", "exp", "source",
                 "table")
    denom: int
    exp: int
    source: str

    def __init__(self, table: RateTable, source: str) -> None:
        self.table = table
        self.source = source
        levels: list[tuple[int, str | None, dict[str, Decimal]]] = [
            (-1, None, _resolve_fallbacks(table.at_tier(None)))
        ]
        for tier in sorted(table.tiers, key=lambda t: t.above_input_tokens):
            levels.append((tier.above_input_tokens, f"input_tokens>{tier.above_input_tokens}",
                           _resolve_fallbacks(table.at_tier(tier))))
        exp = 0
        for _, _, rates in levels:
            for value in rates.values():
                exponent = value.normalize().as_tuple().exponent
                if isinstance(exponent, int):
                    exp = max(exp, -exponent)
        self.exp = exp
        self.denom = _MTOK * 10**exp
        scale = Decimal(10) ** exp

        def q(value: Decimal) -> int:
            scaled = _CTX.multiply(value, scale)
            return int(scaled)

        bands = []
        for above, name, r in levels:
            bands.append(Band(
                above=above, name=name,
                i=q(r["input"]),
                cr=q(r["cache_read"]) - q(r["input"]),
                cw=q(r["cache_write"]) - q(r["input"]),
                cw1h=q(r["cache_write_1h"]) - q(r["cache_write"]),
                ia=q(r["input_audio"]) - q(r["input"]),
                ii=q(r["input_image"]) - q(r["input"]),
                o=q(r["output"]),
                oa=q(r["output_audio"]) - q(r["output"]),
                r=q(r["reasoning"]) - q(r["output"]),
                fixed=q(r["per_request"]) * _MTOK,
            ))
        self.base: Band = bands[0]
        # highest threshold first, so the first one exceeded is the tier that applies
        self.bands: tuple[Band, ...] = tuple(reversed(bands[1:]))
        b = self.base
        self._i, self._cr, self._cw, self._cw1h, self._o = b.i, b.cr, b.cw, b.cw1h, b.o
        #: ``cost(usage) -> Cost | None``; ``None`` when the usage is inconsistent (a cache part larger
        #: than the input it is part of), which cannot be priced honestly.
        self.cost: Callable[[Usage], Cost | None]
        others = any(x.ia or x.ii or x.oa or x.r or x.fixed for x in (b, *self.bands))
        if others:
            self.cost = self._full
        elif self.bands:
            self.cost = self._text_tiered
        elif b.cw or b.cw1h:
            self.cost = self._text
        else:
            self.cost = self._text_no_writes

    # The three pricing functions below are the hot path: locals, no loops, one object built.
    def _text_no_writes(self, u: Usage) -> Cost | None:
        # text tokens, cache writes billed like plain input (OpenAI, Gemini, most models)
        i = u.input_tokens
        cr = u.cache_read_tokens
        if cr + u.cache_write_tokens > i:
            return None
        inp = i * self._i + cr * self._cr
        out = u.output_tokens * self._o
        cost = _new(CompiledCost)
        _set_raw(cost, (inp, out, inp + out, None, u.estimated, self))
        return cost

    def _text(self, u: Usage) -> Cost | None:
        # text tokens with cache reads and 5m / 1h cache writes (Anthropic)
        i = u.input_tokens
        cw = u.cache_write_tokens
        cw1h = u.cache_write_1h_tokens
        cr = u.cache_read_tokens
        if cr + cw > i or cw1h > cw:
            return None
        inp = i * self._i + cr * self._cr + cw * self._cw + cw1h * self._cw1h
        out = u.output_tokens * self._o
        cost = _new(CompiledCost)
        _set_raw(cost, (inp, out, inp + out, None, u.estimated, self))
        return cost

    def _text_tiered(self, u: Usage) -> Cost | None:
        # text tokens with long-context tiers (Gemini 2.5 Pro, Claude Sonnet 4.x)
        i = u.input_tokens
        cw = u.cache_write_tokens
        cw1h = u.cache_write_1h_tokens
        cr = u.cache_read_tokens
        if cr + cw > i or cw1h > cw:
            return None
        band = self.base
        for b in self.bands:
            if i > b.above:
                band = b
                break
        inp = i * band.i + cr * band.cr + cw * band.cw + cw1h * band.cw1h
        out = u.output_tokens * band.o
        cost = _new(CompiledCost)
        _set_raw(cost, (inp, out, inp + out, band.name, u.estimated, self))
        return cost

    def _full(self, u: Usage) -> Cost | None:
        # audio / image / reasoning rates, per-request fees, with or without tiers
        if not consistent(u):
            return None
        band = self.base
        inp_tokens = u.input_tokens
        for b in self.bands:
            if inp_tokens > b.above:
                band = b
                break
        inp = (inp_tokens * band.i + u.cache_read_tokens * band.cr + u.cache_write_tokens * band.cw
               + u.cache_write_1h_tokens * band.cw1h + u.input_audio_tokens * band.ia
               + u.input_image_tokens * band.ii)
        out = u.output_tokens * band.o + u.output_audio_tokens * band.oa + u.reasoning_tokens * band.r
        cost = _new(CompiledCost)
        _set_raw(cost, (inp, out, inp + out + band.fixed, band.name, u.estimated, self))
        return cost


class CompiledCost(Cost):
    """A :class:`Cost` computed from exact integer sums; its ``Decimal`` amounts are made on access.

    It behaves like a plain ``Cost`` (equal to one with the same values, same hash and repr, pickles
    and copies as a plain ``Cost``); only construction is cheaper, which is what the hot path needs.
    """

    __slots__ = ("_raw",)
    _raw: tuple[int, int, int, str | None, bool, Compiled]  # input, output, total, tier, estimated, price

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        # ``CompiledCost(...)`` with field values (dataclasses.replace, copy) makes a plain Cost.
        return Cost(*args, **kwargs)

    def _usd(self, value: int) -> Decimal:
        return Decimal(value).scaleb(-6 - self._raw[5].exp, _CTX)

    @property  # type: ignore[misc]
    def input_usd(self) -> Decimal:
        return self._usd(self._raw[0])

    @property  # type: ignore[misc]
    def output_usd(self) -> Decimal:
        return self._usd(self._raw[1])

    @property  # type: ignore[misc]
    def total_usd(self) -> Decimal:
        return self._usd(self._raw[2])

    @property  # type: ignore[misc]
    def source(self) -> str:
        return self._raw[5].source

    @property  # type: ignore[misc]
    def tier(self) -> str | None:
        return self._raw[3]

    @property  # type: ignore[misc]
    def estimated_tokens(self) -> bool:
        return self._raw[4]

    @property  # type: ignore[misc]
    def total(self) -> float:
        return self._raw[2] / self._raw[5].denom

    @property  # type: ignore[misc]
    def input(self) -> float:
        return self._raw[0] / self._raw[5].denom

    @property  # type: ignore[misc]
    def output(self) -> float:
        return self._raw[1] / self._raw[5].denom

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f) for f in _COST_FIELDS)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Cost):
            return NotImplemented
        return self._values() == tuple(getattr(other, f) for f in _COST_FIELDS)

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        return "Cost(" + ", ".join(f"{f}={getattr(self, f)!r}" for f in _COST_FIELDS) + ")"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Cost, self._values())

    def __copy__(self) -> Cost:
        return self

    def __deepcopy__(self, memo: Any) -> Cost:
        return self


_COST_FIELDS = tuple(f.name for f in fields(Cost))
_new = object.__new__
_set_raw = CompiledCost.__dict__["_raw"].__set__


def consistent(u: Usage) -> bool:
    """True when the usage's parts fit inside their totals (else it cannot be priced honestly)."""
    return (
        u.cache_read_tokens + u.cache_write_tokens <= u.input_tokens
        and u.cache_write_1h_tokens <= u.cache_write_tokens
        and u.reasoning_tokens + u.output_audio_tokens <= u.output_tokens
        and u.input_audio_tokens + u.input_image_tokens <= u.input_tokens
        and min(u.input_tokens, u.output_tokens, u.cache_read_tokens, u.cache_write_tokens,
                u.cache_write_1h_tokens, u.reasoning_tokens, u.input_audio_tokens,
                u.output_audio_tokens, u.input_image_tokens) >= 0
    )


def describe_rates(table: RateTable) -> list[tuple[str, list[tuple[str, Decimal]]]]:
    """Human-readable rows: (tier name, [(field, USD per 1M tokens)]), only the fields that are set."""
    rows: list[tuple[str, list[tuple[str, Decimal]]]] = []
    base = [(name, value) for name in RATE_FIELDS if (value := getattr(table, name)) is not None]
    rows.append(("base", base))
    for tier in sorted(table.tiers, key=lambda t: t.above_input_tokens):
        rows.append((f"input_tokens>{tier.above_input_tokens}",
                     [(name, tier.rates[name]) for name in RATE_FIELDS if name in tier.rates]))
    return rows


def merge_tiers(base: RateTable, tiers: Sequence[Tier]) -> RateTable:
    """``base`` with ``tiers`` added (a tier at the same threshold is replaced)."""
    kept = {t.above_input_tokens: t for t in base.tiers}
    for t in tiers:
        kept[t.above_input_tokens] = t
    return RateTable(**{name: getattr(base, name) for name in RATE_FIELDS},
                     tiers=tuple(sorted(kept.values(), key=lambda t: t.above_input_tokens)))
