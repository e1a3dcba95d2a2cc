"""``agentwatch bench WORKLOAD --inputs FILE.jsonl``: what a workload costs per run, stage and model."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "workload",
        metavar="WORKLOAD",
        help="module:callable importable from the current directory or PYTHONPATH: a compiled LangGraph "
        "graph (run with the agentwatch callback handler) or a function taking one input dict",
    )
    parser.add_argument(
        "--inputs",
        required=True,
        type=Path,
        metavar="FILE.jsonl",
        help="one JSON object per line; a run is one call of the workload on one input",
    )
    parser.add_argument(
        "--runs", type=int, default=1, metavar="N", help="repeat the whole inputs file N times (default 1)"
    )
    parser.add_argument(
        "--models",
        action="append",
        default=[],
        metavar="M1,M2",
        help="also price the same usage as if every chat call had used each of these models "
        "(e.g. gpt-4o,gpt-4o-mini,claude-haiku-4-5; provider:model to be explicit)",
    )
    parser.add_argument(
        "--prices", metavar="FILE", help="a YAML/JSON price file that overrides the bundled prices"
    )
    parser.add_argument(
        "--price-date",
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="price the usage as of this day (default: today, UTC); recorded in results.json",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(".agentwatch") / "bench",
        metavar="DIR",
        help="where results.json, summary.md, chart.png, timings.json and spans.jsonl go "
        "(default .agentwatch/bench)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="FILE",
        help="an earlier results.json: exit 1 when the mean cost per run grew too much",
    )
    parser.add_argument(
        "--max-regression",
        default="5%",
        metavar="PCT",
        help="allowed growth of the mean cost per run against --baseline (default 5%%)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from agentwatch.bench import BenchError, BenchOptions, ModelRef, parse_threshold, run_benchmark

    try:
        models = [ModelRef.parse(m) for group in args.models for m in group.split(",") if m.strip()]
        opts = BenchOptions(
            workload=args.workload,
            inputs=args.inputs,
            repeat=args.runs,
            models=models,
            prices=args.prices,
            out=args.out,
            baseline=args.baseline,
            max_regression=parse_threshold(args.max_regression),
        )
        if args.price_date is not None:
            opts.price_date = args.price_date
        return run_benchmark(opts, progress=not args.no_progress).exit_code
    except BenchError as exc:
        print(f"agentwatch bench: {exc}", file=sys.stderr)
        return 2
