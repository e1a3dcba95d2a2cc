"""The ``agentwatch`` command line: one sub-command per module in :mod:`agentwatch.commands`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: sub-command name -> module under agentwatch.commands exposing add_arguments(parser) and run(args)
COMMANDS: dict[str, str] = {
    "demo": "Run the job-application copilot demo offline and print its cost report.",
    "prices": "Show the resolved prices of a model, their source and tiers.",
    "report": "Summarise a span file: calls, errors, tokens, cost and latency per graph, stage and model.",
    "bench": "Replay a workload and compare what it costs per model.",
}


def _available() -> dict[str, str]:
    found = {}
    for name, help_text in COMMANDS.items():
        try:
            importlib.import_module(f"agentwatch.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"agentwatch.commands.{name}":
                continue
            raise
        found[name] = help_text
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agentwatch", description="agentwatch: telemetry for LLM agents")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in _available().items():
        module = importlib.import_module(f"agentwatch.commands.{name}")
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    args = parser.parse_args(argv)
    code: int = args._run(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
