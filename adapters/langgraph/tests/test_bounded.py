"""Bounded memory: every run's state goes when it ends; runs that never end are evicted by size and age."""

from __future__ import annotations

import gc
import operator
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph
from lg_helpers import ANSWER, attr, four_node_graph, spans_named
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from prometheus_client import CollectorRegistry

import agentwatch
from agentwatch import names
from agentwatch.testing import Captured
from agentwatch_langgraph import CallbackHandler
from agentwatch_langgraph.testing import FakeChatModel, FakeRetriever


class Items(TypedDict):
    items: Annotated[list[Any], operator.add]


class _Counter(SpanProcessor):
    def __init__(self) -> None:
        self.ended = 0

    def on_end(self, span: ReadableSpan) -> None:
        self.ended += 1


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@pytest.mark.slow
def test_ten_thousand_runs_leave_no_state_and_flat_memory() -> None:
    llm = FakeChatModel(responses=[ANSWER])
    g: StateGraph[Any] = StateGraph(Items)
    g.add_node("ask", lambda s: {"items": [llm.invoke("hello there").content]})
    g.add_edge(START, "ask")
    g.add_edge("ask", END)
    graph = g.compile(name="loop")
    counter = _Counter()
    provider = TracerProvider()
    provider.add_span_processor(counter)
    registry = CollectorRegistry()
    agentwatch.configure(tracer_provider=provider, prometheus_registry=registry)
    handler = CallbackHandler()
    config = {"callbacks": [handler]}
    try:
        for _ in range(1000):
            graph.invoke({"items": []}, config=config)
        gc.collect()
        before = _rss_kib()
        for _ in range(9000):
            graph.invoke({"items": []}, config=config)
        gc.collect()
        growth = _rss_kib() - before
    finally:
        agentwatch.shutdown()
    assert handler.open_runs == 0
    assert counter.ended == 10_000 * 3  # workflow, node, model call: nothing lost, nothing left open
    runs = registry.get_sample_value(
        "agentwatch_stage_runs_total", {"graph": "loop", "stage": "ask", "outcome": "ok"}
    )
    assert runs == 10_000
    assert growth < 4096, f"RSS grew {growth} KiB over 9,000 runs"


def _open_streams(graph: Any, handler: CallbackHandler, n: int) -> list[Any]:
    streams = []
    for i in range(n):
        stream = graph.stream({"question": f"q{i}", "notes": []}, config={"callbacks": [handler]})
        next(stream)  # the run started; its first node finished; then the consumer walks away
        streams.append(stream)
    return streams


def _abandoned(spans: Sequence[ReadableSpan]) -> list[ReadableSpan]:
    return [s for s in spans if attr(s, names.ERROR_TYPE) == "RunAbandoned"]


def test_runs_beyond_max_runs_are_evicted_as_abandoned(tel: Captured) -> None:
    graph = four_node_graph(FakeChatModel(responses=[ANSWER]), FakeRetriever())
    handler = CallbackHandler(max_runs=20)
    streams = _open_streams(graph, handler, 50)
    assert handler.open_runs <= 20
    evicted = _abandoned(tel.spans)
    assert len(evicted) >= 30
    assert {s.name for s in evicted} == {"invoke_workflow agent"}
    for stream in streams:
        stream.close()
    assert handler.open_runs == 0
    assert len(spans_named(tel.spans, "invoke_workflow agent")) == 50  # each ended once, none twice


def test_runs_older_than_max_age_are_swept(tel: Captured) -> None:
    graph = four_node_graph(FakeChatModel(responses=[ANSWER]), FakeRetriever())
    handler = CallbackHandler(max_age_s=0.0)
    streams = _open_streams(graph, handler, 3)
    handler.sweep()
    assert handler.open_runs == 0
    assert len(_abandoned(tel.spans)) == 3
    for stream in streams:
        stream.close()  # the late end of an evicted run is ignored
    assert len(spans_named(tel.spans, "invoke_workflow agent")) == 3


def test_close_ends_everything_open(tel: Captured) -> None:
    graph = four_node_graph(FakeChatModel(responses=[ANSWER]), FakeRetriever())
    handler = CallbackHandler()
    streams = _open_streams(graph, handler, 2)
    assert handler.open_runs == 2
    handler.close()
    assert handler.open_runs == 0
    workflow = spans_named(tel.spans, "invoke_workflow agent")
    assert len(workflow) == 2
    assert all(attr(s, names.STAGE_OUTCOME) == "error" for s in workflow)
    for stream in streams:
        stream.close()
    assert len(spans_named(tel.spans, "invoke_workflow agent")) == 2



@pytest.mark.parametrize("max_runs", [100_000, 50])
def test_run_table_under_threads_loses_nothing_and_ends_nothing_twice(max_runs: int) -> None:
    """add / pop take no lock: hammer them from threads (parallel branches of shared roots) while
    root ends and sweeps walk the table. Every run leaves exactly once: its own end, its root's end,
    eviction, or the final clear."""
    import sys
    import threading
    import time
    import uuid

    from agentwatch_langgraph._runs import NODE, WORKFLOW, Run, RunTable

    gone: list[Run] = []
    gone_lock = threading.Lock()

    def record(runs: Sequence[Run]) -> None:
        with gone_lock:
            gone.extend(runs)

    table = RunTable(max_runs, 3600.0, lambda run, error: record([run]))
    roots = [Run(uuid.uuid4().int, WORKFLOW, None, None, None, time.time_ns(), True) for _ in range(4)]  # type: ignore[arg-type]
    for root in roots:
        table.add(root)
    failures: list[BaseException] = []
    done = threading.Event()

    def branch(n: int) -> None:
        try:
            for i in range(2000):
                child = Run(uuid.uuid4().int, NODE, None, None, roots[(n + i) % 4], time.time_ns(), True)  # type: ignore[arg-type]
                table.add(child)
                if i % 2:
                    found = table.pop(uuid.UUID(int=child.key))
                    if found is not None:
                        record([found])
        except BaseException as exc:  # pragma: no cover - what the test looks for
            failures.append(exc)

    def walker() -> None:
        try:
            while not done.is_set():
                for root in roots:
                    record(table.pop_descendants(root))
                table.sweep()
        except BaseException as exc:  # pragma: no cover
            failures.append(exc)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        walking = threading.Thread(target=walker)
        walking.start()
        threads = [threading.Thread(target=branch, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        done.set()
        walking.join()
    finally:
        sys.setswitchinterval(interval)
    record(table.clear())
    assert failures == []
    assert len(table) == 0
    keys = [r.key for r in gone]
    assert len(keys) == len(set(keys)) == 4 + 6 * 2000  # each run left once, none twice, none stayed
