"""Cost of pricing one call: agentwatch's compiled price book next to genai-prices' ``calc_price``.

Cases:

* ``price_cached``: a repeat lookup (the hot path the recorder takes for every model call):
  ``PriceBook.price(provider, model, usage)`` for a flat-rate model with cache reads (gpt-4o), a
  tiered long-context call (gemini-2.5-pro above 200K), a model whose price changed over time
  (o3, priced "now"), a replayed call at a past date (o3 ``at=2025-05-01``), a time-of-day price
  (deepseek-chat) and a user override. Variants ``agentwatch`` (returns the Cost) and
  ``agentwatch+floats`` (also reads ``total``/``input``/``output`` as the recorder does), next to
  ``genai_calc_price`` (``genai_prices.calc_price``) and ``genai_model_price`` (a ``ModelPrice``
  resolved once, then its ``calc_price``: Decimal arithmetic only).
* ``price_first``: the first lookup of a (provider, model) in a book: name normalisation, the
  genai-prices search, compiling every price period. ``cold`` is the first one in the process,
  which also loads the genai-prices data.

Each variant is timed in batches (per-call clocks would cost more than the call), interleaved in
random order round by round. ``median_us`` / ``p90_us`` / ``best_us`` are the **CPU time** of this
thread per call over the batches (``time.thread_time_ns``: other processes on a busy machine do not
inflate it); ``wall_median_us`` is the wall-clock median. ``added_us`` and ``x bare`` compare with
``bare``, an empty function call with the same arguments.

Run: ``python -m benchmarks.overhead.bench_pricing [--quick]``; one JSON line per variant.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from ._measure import emit

COLD_START = time.perf_counter_ns()
from agentwatch import Usage  # noqa: E402
from agentwatch.pricing import PriceBook  # noqa: E402

UTC = timezone.utc


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=30, help="interleaved rounds (default 30)")
    parser.add_argument("--batch", "--calls", type=int, default=2000, dest="batch",
                        help="calls per batch of the fast variants (default 2000)")
    parser.add_argument("--quick", action="store_true", help="a few rounds only (smoke run)")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.batch = 5, 500
    return args


def _per_call_us(fn: Callable[[], Any], n: int) -> tuple[float, float]:
    """(wall, CPU) microseconds per call over ``n`` calls."""
    wall, cpu = time.perf_counter_ns, time.thread_time_ns
    w0, c0 = wall(), cpu()
    for _ in range(n):
        fn()
    return (wall() - w0) / n / 1000, (cpu() - c0) / n / 1000


Variants = dict[str, tuple[Callable[[], Any], int]]


def _q90(values: list[float]) -> float:
    return values[min(int(len(values) * 0.9), len(values) - 1)]


def _timed(case: str, variants: Variants, rounds: int) -> list[dict[str, Any]]:
    """Interleaved batches; variants[name] = (fn, calls per batch). The first variant is the baseline."""
    walls: dict[str, list[float]] = {name: [] for name in variants}
    cpus: dict[str, list[float]] = {name: [] for name in variants}
    for fn, n in variants.values():  # warm-up
        _per_call_us(fn, max(n // 10, 1))
    rng = random.Random(7)
    order = list(variants)
    for _ in range(rounds):
        rng.shuffle(order)
        for name in order:
            fn, n = variants[name]
            w, c = _per_call_us(fn, n)
            walls[name].append(w)
            cpus[name].append(c)
    base_name = next(iter(variants))
    base = statistics.median(cpus[base_name])
    rows = []
    for name in variants:
        wall, cpu = sorted(walls[name]), sorted(cpus[name])
        median = statistics.median(cpu)
        rows.append({
            "case": case, "variant": name, "median_us": round(median, 3), "p90_us": round(_q90(cpu), 3),
            "best_us": round(cpu[0], 3), "wall_median_us": round(statistics.median(wall), 3),
            "added_us": round(median - base, 3), "ratio": round(median / base, 2) if base else None,
            "spans_per_call": None, "rss_growth_kb": None, "n": len(cpu) * variants[name][1],
            "note": "CPU µs per call, batches of calls (a per-call clock would cost more than the call)",
        })
    return rows


def _genai(provider: str, model: str, usage: Usage, at: datetime | None) -> tuple[Callable[[], Any],
                                                                                    Callable[[], Any]]:
    import genai_prices
    from genai_prices import data_snapshot

    g = genai_prices.Usage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                           cache_read_tokens=usage.cache_read_tokens)
    when = at or datetime.now(UTC)
    _, info = data_snapshot.get_snapshot().find_provider_model(model, None, provider, None)
    model_price = info.get_prices(when)

    def calc() -> Any:
        return genai_prices.calc_price(g, model, provider_id=provider, genai_request_timestamp=when)

    def resolved() -> Any:
        return model_price.calc_price(g)

    return calc, resolved


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    # --- first lookups ------------------------------------------------------------------------------
    usage = Usage(input_tokens=1000, output_tokens=200, cache_read_tokens=400)
    cold_book = PriceBook.default()
    t0 = time.perf_counter_ns()
    c0 = time.thread_time_ns()
    assert cold_book.price("openai", "gpt-4o-2024-08-06", usage) is not None
    cold_us = (time.thread_time_ns() - c0) / 1000
    rows: list[dict[str, Any]] = [{"case": "price_first", "variant": "cold (loads genai-prices data)",
                                   "median_us": round(cold_us, 1), "p90_us": round(cold_us, 1), "n": 1,
                                   "import_ms": round((t0 - COLD_START) / 1e6, 1)}]
    firsts: dict[str, list[float]] = {}
    models = [("openai", "gpt-4o-2024-08-06"), ("anthropic", "claude-sonnet-4-5-20250929"),
              ("gcp.vertex_ai", "models/gemini-2.5-pro"),
              ("aws.bedrock", "us.anthropic.claude-3-5-sonnet-20241022-v2:0"),
              ("openai", "o3"), ("acme", "unknown-model")]
    for _ in range(max(args.rounds // 3, 3)):
        for provider, model in models:
            book = PriceBook.default()
            t0 = time.thread_time_ns()
            book.model_label(provider, model)
            firsts.setdefault(f"{provider}:{model}", []).append((time.thread_time_ns() - t0) / 1000)
    for name, values in firsts.items():
        values.sort()
        p90 = values[min(int(len(values) * 0.9), len(values) - 1)]
        rows.append({"case": "price_first", "variant": name, "median_us": round(statistics.median(values), 1),
                     "p90_us": round(p90, 1), "n": len(values)})
    emit(rows)

    # --- repeat lookups -----------------------------------------------------------------------------
    override = {"name": "bench", "models": [{"model": "in-house", "input": 1, "output": 2}]}
    book = PriceBook.from_source(override)
    past = datetime(2025, 5, 1, tzinfo=UTC)
    long_usage = Usage(input_tokens=300_000, output_tokens=2_000, cache_read_tokens=100_000)
    cases: list[tuple[str, str | None, str, Usage, datetime | None, bool]] = [
        ("flat (gpt-4o, cache reads)", "openai", "gpt-4o-2024-08-06", usage, None, True),
        ("tiered (gemini-2.5-pro >200K)", "google", "gemini-2.5-pro", long_usage, None, True),
        ("dated, now (o3)", "openai", "o3", usage, None, True),
        ("dated, replay at 2025-05-01 (o3)", "openai", "o3", usage, past, True),
        ("time of day (deepseek-chat)", "deepseek", "deepseek-chat", usage, None, True),
        ("override", None, "in-house", usage, None, False),
    ]

    def bare(provider: Any, model: Any, usage: Any, at: Any) -> None:
        return None

    out: list[dict[str, Any]] = []
    price = book.price
    for label, provider_name, model, u, at, compare in cases:
        assert price(provider_name, model, u, at) is not None

        def bare_call(p: Any = provider_name, m: str = model, u: Usage = u, at: Any = at) -> None:
            return bare(p, m, u, at)

        def ours(p: Any = provider_name, m: str = model, u: Usage = u, at: Any = at) -> Any:
            return price(p, m, u, at)

        def ours_floats(p: Any = provider_name, m: str = model, u: Usage = u, at: Any = at) -> Any:
            c = price(p, m, u, at)
            assert c is not None  # (every case is priced: checked above)
            return c.total, c.input, c.output, c.source, c.tier

        variants: dict[str, tuple[Callable[[], Any], int]] = {
            "bare": (bare_call, args.batch),
            "agentwatch": (ours, args.batch),
            "agentwatch+floats": (ours_floats, args.batch),
        }
        if compare:
            calc, resolved = _genai(provider_name or "", model, u, at)
            slow = max(args.batch // 50, 10)
            variants["genai_calc_price"] = (calc, slow)
            variants["genai_model_price"] = (resolved, slow)
        rows = _timed(f"price_cached: {label}", variants, args.rounds)
        out.extend(rows)
    emit(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
