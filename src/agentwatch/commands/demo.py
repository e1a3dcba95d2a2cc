"""``agentwatch demo``: run the job-application copilot N times offline and print what it cost.

The example lives in the repository (``examples/job_copilot``) and needs the agentwatch adapters
for LangGraph, OpenAI and Anthropic, which ``./dev demo`` installs.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from rich.console import Console

_EXAMPLE = "examples.job_copilot"
DEFAULT_PORT = 9464
#: every FAULT_EVERY runs the bundled fake provider fails once, to show retries (see _inject_faults)
FAULT_EVERY = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--runs", type=int, default=20, metavar="N", help="how many applications to run (default 20)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        metavar="PORT",
        help=f"serve /metrics on 127.0.0.1:PORT while the demo runs (default {DEFAULT_PORT}; "
        "0 picks a free port, and so does a busy default)",
    )
    parser.add_argument(
        "--spans-file",
        metavar="PATH",
        help="where spans go (default: $AGENTWATCH_SPANS_FILE or .agentwatch/spans.jsonl)",
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        help="use the bundled fake provider even when OPENAI_API_KEY / ANTHROPIC_API_KEY are set",
    )
    parser.add_argument(
        "--no-faults",
        action="store_true",
        help="do not make the fake provider fail now and then (by default one run in "
        f"{FAULT_EVERY // 2} meets a rate limit or an overload, to show retries)",
    )
    parser.add_argument(
        "--json",
        metavar="FILE",
        help="also write the summary (per stage, per model, per run) as JSON to FILE",
    )


class DemoError(Exception):
    pass


def run(args: argparse.Namespace) -> int:
    from agentwatch.report import default_console

    console = default_console()
    if args.runs < 1:
        console.print("agentwatch demo: --runs must be at least 1", markup=False)
        return 2
    try:
        example = _load_example()
    except DemoError as exc:
        print(f"agentwatch demo: {exc}", file=sys.stderr)
        return 2
    return _run_demo(args, example, console)


def _load_example() -> ModuleType:
    """Import ``examples.job_copilot`` from the current directory, a parent, or this checkout."""
    here = Path(__file__).resolve()
    roots = [Path.cwd(), *Path.cwd().parents, *here.parents]
    for root in roots:
        if (root / "examples" / "job_copilot" / "__init__.py").is_file():
            if str(root) not in sys.path:
                sys.path.insert(0, str(root))
            break
    try:
        return importlib.import_module(_EXAMPLE)
    except ModuleNotFoundError as exc:
        if exc.name in ("examples", _EXAMPLE):
            raise DemoError(
                "the demo's example (examples/job_copilot) was not found: run it from a clone of the "
                "repository, e.g. ./dev demo"
            ) from None
        raise DemoError(
            f"the demo needs {exc.name!r}: install the adapters, e.g. "
            "pip install 'agentwatch[langgraph,openai,anthropic]' (./dev demo does it for you)"
        ) from None


def _configure(args: argparse.Namespace, console: Console) -> Any:
    import agentwatch
    from agentwatch.errors import ConfigurationError

    kwargs: dict[str, Any] = {"service_name": "job-copilot-demo", "exporters": ["file"], "keep_records": True}
    if args.spans_file:
        kwargs["spans_file"] = args.spans_file
    try:
        return agentwatch.configure(prometheus_port=args.port, **kwargs)
    except ConfigurationError:
        if args.port == 0:
            raise
        console.print(f"port {args.port} is busy: serving /metrics on a free port instead", style="yellow")
        return agentwatch.configure(prometheus_port=0, **kwargs)


def _run_demo(args: argparse.Namespace, example: ModuleType, console: Console) -> int:
    import agentwatch
    from agentwatch.report import render

    tel = _configure(args, console)
    started_ns = time.time_ns()
    t0 = time.perf_counter()
    failures: list[str] = []
    try:
        with example.Copilot(offline=args.offline, latency=example.demo_latency) as copilot:
            console.print(f"[bold]agentwatch demo[/bold]: the job-application copilot, {args.runs} runs")
            for provider, where in copilot.where.items():
                console.print(f"  {provider:<10} {where}", markup=False)
            console.print(f"  metrics    {tel.metrics_url}   (live while the demo runs)", markup=False)
            console.print(f"  spans      {tel.spans_path}", markup=False)
            apps = example.applications()
            faults = not args.no_faults and copilot.fake is not None
            if faults:
                console.print(
                    "  faults     the fake provider will answer a few requests with a rate limit or an "
                    "overload, to show retries",
                    markup=False,
                )
            _runs(copilot, apps, args.runs, faults, tel, failures, console)
    finally:
        agentwatch.shutdown()
    elapsed = time.perf_counter() - t0

    memory = tel.memory.completed if tel.memory is not None else []
    summary = render(str(tel.spans_path), console, since=started_ns, title="What the copilot cost")
    per_run = _per_run(memory)
    _print_per_run(console, per_run, args.runs, failures, elapsed)
    if args.json:
        payload = {
            "runs": args.runs,
            "failed_runs": len(failures),
            "seconds": round(elapsed, 3),
            "cost_per_run_usd": per_run,
            "report": summary.to_dict(),
        }
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    console.print(f"See these tables again: agentwatch report {tel.spans_path}", markup=False)
    console.print("Price the same runs on other models (benchmarks/cost/README.md):", markup=False)
    console.print(
        "  agentwatch bench examples.job_copilot.workload:graph --inputs "
        "examples/job_copilot/data/applications.jsonl --models gpt-4o-mini,claude-haiku-4-5",
        markup=False,
        soft_wrap=True,
    )
    return 1 if len(failures) == args.runs else 0


def _runs(
    copilot: Any,
    apps: list[dict[str, Any]],
    n: int,
    faults: bool,
    tel: Any,
    failures: list[str],
    console: Console,
) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[cost]}"),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("running", total=n, cost="")
        for i in range(n):
            app = apps[i % len(apps)]
            if faults:
                _inject_faults(copilot.fake, i)
            progress.update(task, description=f"{app['profile_id']} -> {app['job_id']}")
            try:
                copilot.run(app)
            except Exception as exc:  # a failed run is part of the story: count it and go on
                failures.append(f"run {i + 1}: {type(exc).__name__}: {exc}")
                console.print(f"run {i + 1} failed: {type(exc).__name__}: {exc}", style="red", markup=False)
            spent = sum(
                c.cost.total for c in (tel.memory.completed if tel.memory else []) if c.cost is not None
            )
            progress.update(task, advance=1, cost=f"${spent:.4f} so far")
        progress.update(task, description="done")


def _inject_faults(fake: Any, i: int) -> None:
    """One run in five meets a provider error, alternately an Anthropic overload (the
    ``optimize_resume`` node's retry policy retries it) and an OpenAI rate limit (the OpenAI SDK
    retries it after ``retry-after``)."""
    from agentwatch.fake_provider import Failure

    if i % FAULT_EVERY == 3:
        fake.fail_next(Failure(status=529, path="messages"))
    elif i % FAULT_EVERY == 8:
        fake.fail_next(Failure(status=429, retry_after=0.05, path="chat"))


def _per_run(completed: list[Any]) -> dict[str, float | None]:
    """Cost per graph run: the priced model calls in each run's trace (calls outside a run, like
    indexing the postings, are not in any)."""
    from agentwatch.bench.analysis import nearest_rank
    from agentwatch.records import Workflow

    per_trace = {c.trace_id: 0.0 for c in completed if isinstance(c.record, Workflow)}
    for c in completed:
        if c.cost is not None and c.trace_id in per_trace:
            per_trace[c.trace_id] += c.cost.total
    costs = list(per_trace.values())
    if not costs:
        return {"mean": None, "p50": None, "p95": None, "total": 0.0}
    return {
        "mean": sum(costs) / len(costs),
        "p50": nearest_rank(costs, 0.5),
        "p95": nearest_rank(costs, 0.95),
        "total": sum(costs),
    }


def _print_per_run(
    console: Console, per_run: dict[str, float | None], n: int, failures: list[str], elapsed: float
) -> None:
    from agentwatch.bench.output import fmt_usd

    console.print(
        f"[bold]Cost per run: {fmt_usd(per_run['mean'])}[/bold] (p50 {fmt_usd(per_run['p50'])}, "
        f"p95 {fmt_usd(per_run['p95'])}); total {fmt_usd(per_run['total'])} for {n} runs"
        + (f", {len(failures)} failed" if failures else "")
        + f", in {elapsed:.1f} s"
    )
