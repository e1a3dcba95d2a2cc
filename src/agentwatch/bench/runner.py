"""Run a workload over its inputs with agentwatch recording, then price and report what it used."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode
from prometheus_client import CollectorRegistry
from rich.console import Console

from agentwatch import __version__, names
from agentwatch.bench.analysis import ModelRef, analyse, timings
from agentwatch.bench.baseline import Verdict, compare, load_baseline
from agentwatch.bench.collect import Collected, RunFact, collect
from agentwatch.bench.output import (
    CHART_MISSING,
    markdown,
    print_results,
    verdict_lines,
    write_chart,
    write_json,
)
from agentwatch.bench.workload import BenchError, Workload, load_inputs, load_workload
from agentwatch.errors import ConfigurationError
from agentwatch.exporters.file import OTLPJsonFileExporter
from agentwatch.pricing import PriceBook

Progress = Callable[[int, int], None]


@dataclass
class BenchOptions:
    workload: str
    inputs: Path
    repeat: int = 1
    models: Sequence[ModelRef] = ()
    prices: str | None = None
    out: Path = Path(".agentwatch") / "bench"
    baseline: Path | None = None
    max_regression: float = 0.05
    price_date: date = field(default_factory=lambda: datetime.now(timezone.utc).date())


@dataclass
class BenchResult:
    results: dict[str, Any]
    timings: dict[str, Any]
    verdict: Verdict | None
    files: dict[str, Path]
    exit_code: int


def run_benchmark(opts: BenchOptions, console: Console | None = None, progress: bool = True) -> BenchResult:
    """Run, price, write the files, print the tables; raises :class:`BenchError` for bad arguments."""
    if console is None:
        from agentwatch.report import default_console

        console = default_console()
    if opts.repeat < 1:
        raise BenchError("--runs must be at least 1")
    items, digest = load_inputs(opts.inputs)
    try:
        book = PriceBook.from_source(opts.prices) if opts.prices else PriceBook.default()
    except ConfigurationError as exc:
        raise BenchError(f"--prices {opts.prices}: {exc}") from exc
    baseline = load_baseline(opts.baseline) if opts.baseline is not None else None
    # Import before agentwatch is configured: what the module sets up at import is not a run.
    workload = load_workload(opts.workload)
    out = opts.out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BenchError(f"--out {out}: {exc.strerror or exc}") from exc
    spans_path = out / "spans.jsonl"
    spans_path.unlink(missing_ok=True)

    collected = _record(workload, items, opts.repeat, book, spans_path, console if progress else None)
    meta = {
        "workload": opts.workload,
        "inputs": {"file": opts.inputs.name, "sha256": digest, "count": len(items)},
        "repeat": opts.repeat,
        "agentwatch": __version__,
    }
    results = analyse(
        collected,
        book,
        price_date=opts.price_date,
        targets=opts.models,
        meta=meta,
        default_source=book.default_source,
    )
    timing = timings(collected, book)
    verdict = compare(results, baseline, opts.max_regression) if baseline is not None else None

    files = {
        "results": out / "results.json",
        "timings": out / "timings.json",
        "summary": out / "summary.md",
        "spans": spans_path,
    }
    write_json(files["results"], results)
    write_json(files["timings"], timing)
    chart = out / "chart.png"
    if write_chart(results, chart):
        files["chart"] = chart
    else:
        chart.unlink(missing_ok=True)
        console.print(CHART_MISSING)
    files["summary"].write_text(
        markdown(results, timing, verdict, chart.name if "chart" in files else None), encoding="utf-8"
    )

    print_results(console, results, timing)
    exit_code = 0
    if results["runs"]["ok"] == 0:
        console.print("[bold red]every run failed[/]: " + ", ".join(results["runs"]["error_types"]))
        exit_code = 1
    if verdict is not None:
        for line in verdict_lines(verdict):
            console.print(line, style=None if verdict.ok else "bold red", markup=False)
        if not verdict.ok:
            exit_code = 1
    console.print(f"wrote {', '.join(str(p) for p in files.values())}", markup=False)
    return BenchResult(results, timing, verdict, files, exit_code)


def _record(
    workload: Workload,
    items: Sequence[dict[str, Any]],
    repeat: int,
    book: PriceBook,
    spans_path: Path,
    console: Console | None,
) -> Collected:
    from agentwatch import configure, shutdown

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: "agentwatch-bench"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.add_span_processor(BatchSpanProcessor(OTLPJsonFileExporter(spans_path)))
    tel = configure(
        tracer_provider=provider, prometheus_registry=CollectorRegistry(), prices=book, keep_records=True
    )
    tracer = provider.get_tracer("agentwatch.bench", __version__)
    book.model_label("openai", "gpt-4o")  # load the price data now, not inside the first run
    runs: list[RunFact] = []
    run_of_trace: dict[int, int] = {}
    total = len(items) * repeat
    try:
        with _progress(console, total) as advance:
            for rep in range(repeat):
                for i, item in enumerate(items):
                    index = rep * len(items) + i
                    attrs = {names.BENCH_RUN_INDEX: index, names.BENCH_INPUT_INDEX: i}
                    with tracer.start_as_current_span(
                        names.BENCH_RUN_SPAN,
                        attributes=attrs,
                        record_exception=False,
                        set_status_on_exception=False,
                    ) as span:
                        run_of_trace[span.get_span_context().trace_id] = index
                        started = time.perf_counter()
                        error = None
                        try:
                            workload(copy.deepcopy(item))
                        except BenchError:
                            raise
                        except Exception as exc:
                            error = type(exc).__qualname__
                            span.set_status(Status(StatusCode.ERROR, f"{error}: {exc}"))
                            span.set_attribute(names.ERROR_TYPE, error)
                        elapsed = time.perf_counter() - started
                    runs.append(
                        RunFact(
                            index=index,
                            input_index=i,
                            repeat=rep,
                            outcome=names.OUTCOME_ERROR if error else names.OUTCOME_OK,
                            duration_s=elapsed,
                            error_type=error,
                        )
                    )
                    advance()
        provider.force_flush()
        memory_sink = tel.memory
        completed = memory_sink.completed if memory_sink is not None else []
        parents = {
            s.context.span_id: (s.parent.span_id if s.parent is not None else None)
            for s in memory.get_finished_spans()
            if s.context is not None
        }
    finally:
        shutdown()
        provider.shutdown()
    return collect(completed, parents, run_of_trace, runs)


class _progress:
    """A rich progress bar on stderr (nothing when ``console`` is None)."""

    def __init__(self, console: Console | None, total: int) -> None:
        self.console = console
        self.total = total
        self._bar: Any = None

    def __enter__(self) -> Callable[[], None]:
        if self.console is None:
            return lambda: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(
            TextColumn("bench"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._bar.__enter__()
        task = self._bar.add_task("runs", total=self.total)
        return lambda: self._bar.advance(task)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
