"""``agentwatch prices MODEL [--provider P]``: the resolved prices of a model, their source and tiers."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

_LABELS = {
    "input": "input",
    "cache_read": "cache read",
    "cache_write": "cache write (5m)",
    "cache_write_1h": "cache write (1h)",
    "input_audio": "audio input",
    "input_image": "image input",
    "output": "output",
    "output_audio": "audio output",
    "reasoning": "reasoning output",
    "per_request": "per request (USD)",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="model name as your code or the provider reports it "
                                                       "(gpt-4o-2024-08-06, us.anthropic.claude-..., ...)")
    parser.add_argument("--provider", metavar="P", help="provider name (openai, anthropic, aws.bedrock, "
                                                        "gcp.vertex_ai, ...)")
    parser.add_argument("--at", metavar="DATE", help="prices in force at this UTC date or time "
                                                     "(2025-05-01 or 2025-05-01T12:00); default: now")
    parser.add_argument("--prices", metavar="FILE", help="a YAML/JSON price override file "
                                                         "(default: $AGENTWATCH_PRICES_FILE if set)")
    parser.add_argument("--input-tokens", type=int, default=None, metavar="N",
                        help="also price a call with N input tokens (cache included)")
    parser.add_argument("--output-tokens", type=int, default=0, metavar="N")
    parser.add_argument("--cache-read-tokens", type=int, default=0, metavar="N")
    parser.add_argument("--cache-write-tokens", type=int, default=0, metavar="N")
    parser.add_argument("--json", action="store_true", help="print as JSON")


def _parse_at(text: str | None) -> datetime | None:
    if not text:
        return None
    at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return at if at.tzinfo is not None else at.replace(tzinfo=timezone.utc)


def _num(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    if "." not in text:
        return text + ".00"
    whole, frac = text.split(".")
    return f"{whole}.{frac.ljust(2, '0')}"


def run(args: argparse.Namespace) -> int:
    from agentwatch.errors import ConfigurationError
    from agentwatch.pricing import PriceBook
    from agentwatch.usage import Usage

    try:
        at = _parse_at(args.at)
    except ValueError:
        print(f"agentwatch prices: --at {args.at!r} is not a date like 2025-05-01", file=sys.stderr)
        return 2
    source = args.prices or os.environ.get("AGENTWATCH_PRICES_FILE") or None
    try:
        book = PriceBook.from_source(source) if source else PriceBook.default()
    except ConfigurationError as exc:
        print(f"agentwatch prices: {exc}", file=sys.stderr)
        return 2
    desc = book.describe(args.model, args.provider, at)
    if desc is None:
        print(f"agentwatch prices: no price known for {args.model!r}"
              + (f" (provider {args.provider!r})" if args.provider else "")
              + ". Its calls are recorded without cost. Add one in a price file "
              "(models: [{model: NAME, input: USD_PER_1M, output: USD_PER_1M}]) and pass it with "
              "--prices, AGENTWATCH_PRICES_FILE or configure(prices=...).", file=sys.stderr)
        return 1
    cost = None
    if args.input_tokens is not None:
        usage = Usage(input_tokens=args.input_tokens, output_tokens=args.output_tokens,
                      cache_read_tokens=args.cache_read_tokens, cache_write_tokens=args.cache_write_tokens)
        cost = book.price(args.provider, args.model, usage, at)

    if args.json:
        def tiers(rates: list[tuple[str, list[tuple[str, Decimal]]]]) -> dict[str, dict[str, str]]:
            return {tier: {k: str(v) for k, v in rows} for tier, rows in rates}

        out: dict[str, Any] = {
            "model": desc.model, "resolved": desc.label, "provider": desc.provider, "source": desc.source,
            "usd_per_million_tokens": tiers(desc.rates),
            "history": [{"period": period, "rates": tiers(rates)} for period, rates in desc.history],
            "note": desc.note, "context_window": desc.context_window,
        }
        if cost is not None:
            out["cost"] = {"input_usd": str(cost.input_usd), "output_usd": str(cost.output_usd),
                           "total_usd": str(cost.total_usd), "tier": cost.tier}
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0

    w = sys.stdout.write
    w(f"model     {desc.model}" + (f"  ->  {desc.label}" if desc.label != desc.model else "") + "\n")
    if desc.provider:
        w(f"provider  {desc.provider}\n")
    w(f"source    {desc.source}\n")
    if desc.context_window:
        w(f"context   {desc.context_window:,} tokens\n")
    when = at.isoformat() if at else "now"
    w(f"\nUSD per 1M tokens ({when}):\n")
    for tier, rows in desc.rates:
        if tier != "base":
            w(f"  tier {tier} (every token of the call):\n")
        for key, value in rows:
            w(f"  {'  ' if tier != 'base' else ''}{_LABELS.get(key, key):<20} {_num(value):>10}\n")
    if len(desc.rates) == 1:
        w("  tiers: none\n")
    if desc.history:
        w("\nprice history:\n")
        for period, rates in desc.history:
            base = dict(rates[0][1])
            parts = ", ".join(f"{_LABELS.get(k, k)} {_num(v)}" for k, v in base.items())
            w(f"  {period:<18} {parts}\n")
    if desc.note:
        w(f"\nnote: {desc.note}\n")
    if cost is not None:
        w(f"\ncost of the call: input ${cost.input_usd} + output ${cost.output_usd} = ${cost.total_usd}"
          + (f" (tier {cost.tier})" if cost.tier else "") + "\n")
    return 0
