"""Load and leaks: 100,000 decorated calls with memory flat, 1,000 concurrent asyncio tasks and a
32-thread pool sharing one recorder, with exact per-trace totals."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import linecache
import os
import threading
import tracemalloc
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from prometheus_client import CollectorRegistry

import agentwatch
from agentwatch import delivery
from agentwatch.delivery import GuardedSpanProcessor
from agentwatch.testing import Captured

LABELS = {"provider": "openai", "model": "gpt-4o", "operation": "chat"}


class NullExporter(SpanExporter):
    def __init__(self) -> None:
        self.count = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.count += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def usage(prompt: int, completion: int) -> dict[str, Any]:
    return {"model": "gpt-4o-2024-08-06", "usage": {"prompt_tokens": prompt, "completion_tokens": completion}}


@pytest.mark.slow
def test_100k_decorated_calls_keep_memory_flat() -> None:
    exporter = NullExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    processor = GuardedSpanProcessor(exporter)
    provider.add_span_processor(processor)
    tel = agentwatch.configure(tracer_provider=provider, prometheus_registry=CollectorRegistry(auto_describe=True))
    models = ("gpt-4o", "gpt-4o-mini", "claude-haiku-4-5")
    ask = [agentwatch.track_inference(provider="anthropic" if m.startswith("claude") else "openai", model=m)(
        lambda i, m=m: usage(100 + i % 7, 10)) for m in models]

    @agentwatch.track_tool(name="lookup")
    def lookup(i: int) -> int:
        return i

    @agentwatch.track_vector_search(db="pgvector", collection="docs", top_k=3)
    def search(i: int) -> list[dict[str, Any]]:
        return [{"id": f"d{i % 5}", "score": 0.5}]

    def unit(i: int) -> None:
        with agentwatch.stage("request"):
            ask[i % 3](i)
            lookup(i)
            search(i)

    def rss_kb() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)

    try:
        for i in range(2000):  # warm-up: price lookups, label children, caches
            unit(i)
        tel.force_flush(10_000)  # spans, and the records waiting for a metrics batch
        # 100,000 calls (25,000 units of 4), untraced: live objects and RSS at four checkpoints.
        checkpoints: list[tuple[int, int, int]] = []
        for block in range(4):
            for i in range(6250):
                unit(i)
            tel.force_flush(10_000)
            gc.collect()
            checkpoints.append(((block + 1) * 25_000, len(gc.get_objects()), rss_kb()))
        # Then, traced: where any byte that stays would come from.
        tracemalloc.start(1)
        for i in range(300):
            unit(i)
        tel.force_flush(10_000)
        gc.collect()
        before = tracemalloc.take_snapshot()
        for i in range(1200):
            unit(i)
        tel.force_flush(10_000)
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
    finally:
        agentwatch.shutdown()
        provider.shutdown()
    print(checkpoints)
    assert exporter.count == 4 * (2000 + 25_000 + 1500)
    assert delivery.stats()[1] == {}  # no span dropped
    (_, objects_25k, rss_25k), (_, objects_100k, rss_100k) = checkpoints[0], checkpoints[-1]
    # From 25,000 to 100,000 calls: no object survives a call, RSS flat (75,000 calls leaking even
    # 16 bytes each would be 1.2 MB).
    assert objects_100k - objects_25k < 200, checkpoints
    assert rss_100k - rss_25k < 1024, checkpoints
    growth = after.compare_to(before, "lineno")
    grown = sum(d.size_diff for d in growth if d.size_diff > 0)
    # span_attributes.py writes into the SDK span's own attribute dict, and a pending span makes its
    # attribute dict itself: that memory is the span's (it counts in ``grown``, as it did when the
    # SDK's set_attributes wrote it), alive while the span waits in (or was just taken from) the
    # processor's queue, not agentwatch's. Likewise the Prometheus sink replaces each metric value's
    # float with the new sum: one float per series, whichever line made it last. And a deque keeps
    # up to 16 freed blocks of 64 entries for reuse: the completion queue's holds more of them when
    # its background thread was completing a batch while calls ended (bounded: about 8 KB).
    ours = sum(d.size_diff for d in growth if d.size_diff > 0 and "agentwatch" in d.traceback[0].filename
               and not d.traceback[0].filename.endswith("span_attributes.py")
               and not _kept_by_design(d.traceback[0].filename, d.traceback[0].lineno))
    print(grown, ours, growth[:5])
    assert ours < 4 * 1024, growth[:5]  # 4,800 traced calls: under a byte per call
    assert grown < 64 * 1024, growth[:5]


def _kept_by_design(filename: str, lineno: int) -> bool:
    """Lines whose memory outlives a call by design (see the test above): a metric value's float, a
    pending span's attribute dict, the completion queue's deque blocks."""
    line = linecache.getline(filename, lineno)
    if "._value +=" in line:
        return True
    if filename.endswith("pending_span.py"):
        return "self._attributes = {" in line or "store = dict(self._base)" in line
    return filename.endswith("completion_queue.py") and "pending.append(" in line


def rollup(span: ReadableSpan) -> tuple[Any, Any, Any]:
    a = span.attributes or {}
    return a["agentwatch.rollup.input_tokens"], a["agentwatch.rollup.output_tokens"], a["agentwatch.rollup.llm_calls"]


def test_1000_concurrent_asyncio_tasks_have_exact_per_trace_totals(tel: Captured) -> None:
    @agentwatch.track_inference(provider="openai", model="gpt-4o")
    async def ask(prompt: int, completion: int) -> dict[str, Any]:
        await asyncio.sleep(0)
        return usage(prompt, completion)

    async def request(n: int) -> int:
        async with agentwatch.stage(f"request-{n}"):
            results = await asyncio.gather(*(ask(n + k, k + 1) for k in range(3)))
            await asyncio.sleep(0)
            more = await ask(2 * n, 5)
        return sum(r["usage"]["prompt_tokens"] for r in results) + more["usage"]["prompt_tokens"]

    async def main() -> list[int]:
        return await asyncio.gather(*(request(n) for n in range(1000)))

    totals = asyncio.run(main())
    assert totals == [3 * n + 3 + 2 * n for n in range(1000)]
    spans = tel.spans
    assert len(spans) == 5000
    by_trace: dict[int, list[ReadableSpan]] = {}
    for s in spans:
        by_trace.setdefault(s.context.trace_id, []).append(s)
    assert len(by_trace) == 1000
    for members in by_trace.values():
        [stage] = [s for s in members if s.name.startswith("request-")]
        n = int(stage.name.split("-")[1])
        calls = [s for s in members if s.name == "chat gpt-4o"]
        assert len(calls) == 4
        assert all(c.parent is not None and c.parent.span_id == stage.context.span_id for c in calls)
        assert rollup(stage) == (3 * n + 3 + 2 * n, 1 + 2 + 3 + 5, 4)
    assert tel.sample("agentwatch_llm_calls_total", **LABELS, outcome="ok") == 4000
    assert tel.sample("agentwatch_llm_tokens_total", **LABELS, type="input") == sum(
        3 * n + 3 + 2 * n for n in range(1000))


def test_32_thread_pool_shares_one_recorder_with_exact_totals(tel: Captured) -> None:
    @agentwatch.track_inference(provider="openai", model="gpt-4o")
    def ask(prompt: int, completion: int) -> dict[str, Any]:
        return usage(prompt, completion)

    @agentwatch.track_tool(name="fetch")
    def fetch(n: int) -> int:
        return ask(n, 1)["usage"]["prompt_tokens"]

    barrier = threading.Barrier(32)

    def job(n: int) -> int:
        if n < 32:
            barrier.wait(10)  # all 32 workers inside at once
        with agentwatch.stage(f"job-{n}"):
            total = sum(ask(n + k, 2)["usage"]["prompt_tokens"] for k in range(4))
            # A fan-out inside the job: threads that inherit the stage's context add to its rollup.
            with ThreadPoolExecutor(2) as inner:
                ctx = [contextvars.copy_context() for _ in range(2)]
                total += sum(inner.map(lambda c: c.run(fetch, n), ctx))
        return total

    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(job, range(320)))
    assert results == [4 * n + 6 + 2 * n for n in range(320)]
    stages = [s for s in tel.spans if s.name.startswith("job-")]
    assert len(stages) == 320
    for stage in stages:
        n = int(stage.name.split("-")[1])
        assert rollup(stage) == (4 * n + 6 + 2 * n, 4 * 2 + 2 * 1, 6)
        members = [s for s in tel.spans if s.context.trace_id == stage.context.trace_id]
        assert len(members) == 1 + 4 + 2 * 2  # stage, 4 calls, 2 tools each with a call
    assert tel.sample("agentwatch_llm_calls_total", **LABELS, outcome="ok") == 320 * 6
    assert tel.sample("agentwatch_tool_calls_total", tool="fetch", outcome="ok") == 640
