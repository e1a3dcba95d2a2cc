"""``agentwatch report [PATH]``: summarise a span file (ours or the OTel Collector's)."""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path", nargs="*", metavar="PATH",
        help="span file(s) or folder(s) in OTLP JSON lines; '-' reads stdin "
             "(default: $AGENTWATCH_SPANS_FILE or .agentwatch/spans.jsonl, with its rotated backups)",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--since", metavar="WHEN",
                        help="only spans that started after WHEN: a duration back from now (30m, 2h, 7d) "
                             "or a time (2026-11-23T10:00, local time unless it has an offset or Z)")
    parser.add_argument("--trace", metavar="ID", help="only the spans of this trace (32 hex digits); "
                                                      "also prints its span tree")
    parser.add_argument("--top", type=int, metavar="N", help="at most N rows per table")


def run(args: argparse.Namespace) -> int:
    from agentwatch.report import default_console, default_path, render, summarise

    paths = list(args.path) or [str(default_path())]
    source = paths[0] if len(paths) == 1 else paths
    try:
        if args.json:
            summary = summarise(source, since=args.since, trace_id=args.trace)
            json.dump(summary.to_dict(), sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            render(source, default_console(), since=args.since, trace_id=args.trace, top=args.top)
    except FileNotFoundError as exc:
        print(f"agentwatch report: {exc}. Spans are written there by an application that called "
              "agentwatch.configure() with no OTLP endpoint; or pass the file to read.", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"agentwatch report: {exc}", file=sys.stderr)
        return 2
    return 0
