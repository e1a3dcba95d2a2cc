"""Memory over a long run: RSS and live objects every 10,000 invocations, up to 100,000.

The overhead budget asks for memory that stays flat over 100,000 LangGraph invocations and grows by
less than 1 MB per 10,000. The timed benchmarks measure RSS over a few thousand calls; this runs the
long version, one case after the other in one process:

* ``langgraph_4_nodes``: the graph of ``bench_langgraph`` under agentwatch's ``CallbackHandler``,
  everything on (spans through the default processor to an exporter that only counts, cost,
  rollups, Prometheus metrics);
* ``track_inference``: the decorated OpenAI-shaped call of ``bench_decorators``.

The first ``--every`` invocations are a warm-up (caches, label children, the first price lookup);
the baseline is read after them. Before every reading, waiting calls are completed, the span
processor exports what it holds and the garbage collector runs, so what is left is what is kept.
Each reading: RSS, growth since the baseline, live objects the collector tracks, spans exported and
dropped, runs the handler still tracks. Not part of ``python -m benchmarks.overhead`` (the LangGraph
case takes about four minutes here).

Run: ``python -m benchmarks.overhead.soak_memory [--invocations N] [--every K] [--case NAME]``;
one JSON line per reading (its span counts are the whole process's so far), then one summary line
per case (its span counts are the case's measured invocations').
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry

import agentwatch
from agentwatch_langgraph import CallbackHandler

from ._measure import rss_kb
from .bench_decorators import CHAT_RESULT
from .bench_langgraph import STATE, build_graph, counted

CASES = ("langgraph_4_nodes", "track_inference")


def _reading(case: str, done: int, baseline: int | None, spans: Callable[[], int],
             dropped: Callable[[], int | None], extra: dict[str, Any]) -> dict[str, Any]:
    telemetry = agentwatch.current()
    if telemetry is not None:
        telemetry.force_flush(30_000)  # waiting calls, metric records and spans
    gc.collect()
    rss = rss_kb()
    return {
        "case": case,
        "invocations": done,
        "rss_kb": rss,
        "rss_growth_kb": None if rss is None or baseline is None else rss - baseline,
        "objects": len(gc.get_objects()),
        "spans": spans(),
        "dropped": dropped(),
        **extra,
    }


def soak(case: str, call: Callable[[], Any], invocations: int, every: int, spans: Callable[[], int],
         dropped: Callable[[], int | None], extra: Callable[[], dict[str, Any]] = dict) -> dict[str, Any]:
    """Run ``call`` ``every`` times to warm up, then ``invocations`` times, reading every ``every``."""
    for _ in range(every):
        call()
    first = _reading(case, 0, None, spans, dropped, extra())
    baseline = first["rss_kb"]
    first["rss_growth_kb"] = 0 if baseline is not None else None
    print(json.dumps(first), flush=True)
    readings = [first]
    done = 0
    while done < invocations:
        for _ in range(min(every, invocations - done)):
            call()
        done = min(done + every, invocations)
        reading = _reading(case, done, baseline, spans, dropped, extra())
        print(json.dumps(reading), flush=True)
        readings.append(reading)
    rss = [r["rss_kb"] for r in readings if r["rss_kb"] is not None]
    steps = [b - a for a, b in itertools.pairwise(rss)]
    return {
        "case": case,
        "summary": True,
        "invocations": invocations,
        "rss_growth_kb": rss[-1] - rss[0] if rss else None,
        "max_growth_per_interval_kb": max(steps) if steps else None,
        "interval": every,
        "rss_range_kb": max(rss) - min(rss) if rss else None,
        "objects_growth": readings[-1]["objects"] - first["objects"],
        # exported and dropped over the measured invocations (a reading's counts are the process's)
        "spans": readings[-1]["spans"] - first["spans"],
        "dropped": None if first["dropped"] is None else readings[-1]["dropped"] - first["dropped"],
    }


def _langgraph_case() -> tuple[Callable[[], Any], Callable[[], dict[str, Any]]]:
    graph = build_graph()
    handler = CallbackHandler()
    config: dict[str, Any] = {"callbacks": [handler]}
    return (lambda: graph.invoke(STATE, config=config)), (lambda: {"open_runs": handler.open_runs})


def _decorator_case() -> tuple[Callable[[], Any], Callable[[], dict[str, Any]]]:
    @agentwatch.track_inference(provider="openai", model="gpt-4o")
    def tracked_chat() -> dict[str, Any]:
        return CHAT_RESULT

    return tracked_chat, dict


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--invocations", type=int, default=100_000)
    parser.add_argument("--every", type=int, default=10_000)
    parser.add_argument("--case", choices=CASES, action="append", help="a case to run (default: both)")
    args = parser.parse_args(argv)
    if args.invocations < 1 or args.every < 1:
        parser.error("--invocations and --every must be positive")
    ours = counted("agentwatch", peer=False)  # the default processor, to an exporter that only counts
    agentwatch.configure(tracer_provider=ours.provider,
                         prometheus_registry=CollectorRegistry(auto_describe=True))
    summaries = []
    for case in args.case or CASES:
        call, extra = _langgraph_case() if case == "langgraph_4_nodes" else _decorator_case()
        summaries.append(soak(case, call, args.invocations, args.every, ours.spans, ours.dropped, extra))
    for summary in summaries:
        print(json.dumps(summary), flush=True)
    agentwatch.shutdown()
    ours.provider.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
