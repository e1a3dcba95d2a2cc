"""LangGraphInstrumentor: every graph run traced without code changes; no double handler; undone by
uninstrument(); found by ``opentelemetry-instrument`` through its entry point."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler, CallbackManager
from langgraph.pregel import Pregel
from lg_helpers import ANSWER, FOUR_NODE_TREE, four_node_graph, trees
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import agentwatch
from agentwatch.testing import Captured
from agentwatch_langgraph import CallbackHandler, LangGraphInstrumentor
from agentwatch_langgraph.testing import FakeChatModel, FakeRetriever

STATE = {"question": "q", "notes": []}


@pytest.fixture
def instrumentor() -> Iterator[LangGraphInstrumentor]:
    inst = LangGraphInstrumentor()
    inst.instrument(configure=False)
    try:
        yield inst
    finally:
        inst.uninstrument()


class Recording(BaseCallbackHandler):
    def __init__(self) -> None:
        self.starts = 0

    def on_chain_start(self, *args: Any, **kwargs: Any) -> None:
        self.starts += 1


def test_graph_runs_are_traced_without_a_handler_in_the_code(tel: Captured, instrumentor: Any) -> None:
    graph = four_node_graph(FakeChatModel(responses=[ANSWER]), FakeRetriever())
    graph.invoke(STATE)
    graph.invoke(STATE, {"run_name": "named"})
    assert sorted(t[0] for t in trees(tel.spans)) == ["invoke_workflow agent", "invoke_workflow named"]
    assert trees([s for s in tel.spans if s.context.trace_id == tel.spans[0].context.trace_id]) == [
        FOUR_NODE_TREE
    ]
    assert instrumentor.handler is not None and instrumentor.handler.open_runs == 0


async def test_async_and_streaming_runs_too(tel: Captured, instrumentor: Any) -> None:
    graph = four_node_graph(FakeChatModel(responses=[ANSWER]), FakeRetriever(), asynchronous=True)
    await graph.ainvoke(STATE)
    [c async for c in graph.astream(STATE)]
    list(four_node_graph(FakeChatModel(responses=[ANSWER]), FakeRetriever()).stream(STATE))
    assert [t[0] for t in trees(tel.spans)] == ["invoke_workflow agent"] * 3
    assert all(t == FOUR_NODE_TREE for t in trees(tel.spans))


def test_other_callbacks_are_kept_and_ours_is_not_added_twice(tel: Captured, instrumentor: Any) -> None:
    graph = four_node_graph(FakeChatModel(responses=[ANSWER]), FakeRetriever())
    in_list, in_manager = Recording(), Recording()
    graph.invoke(STATE, {"callbacks": [in_list]})
    graph.invoke(
        STATE, {"callbacks": CallbackManager(handlers=[in_manager], inheritable_handlers=[in_manager])}
    )
    graph.invoke(STATE, {"callbacks": [CallbackHandler()]})  # the caller's own: used instead
    assert in_list.starts == 5 and in_manager.starts == 5  # graph + 4 nodes
    assert [t[0] for t in trees(tel.spans)] == ["invoke_workflow agent"] * 3
    assert all(t == FOUR_NODE_TREE for t in trees(tel.spans))


def test_subgraphs_are_not_doubled(tel: Captured, instrumentor: Any) -> None:
    inner = four_node_graph(FakeChatModel(responses=[ANSWER]), FakeRetriever(), name="inner")
    from langgraph.graph import END, START, StateGraph
    from lg_helpers import State

    def call_inner(s: Any) -> Any:
        return inner.invoke(s)

    g: StateGraph[Any] = StateGraph(State)
    g.add_node("call_inner", call_inner)
    g.add_node("as_node", inner)
    g.add_edge(START, "call_inner")
    g.add_edge("call_inner", "as_node")
    g.add_edge("as_node", END)
    g.compile(name="outer").invoke(STATE)
    inner_tree = ("invoke_workflow inner", FOUR_NODE_TREE[1])
    assert trees(tel.spans) == [
        ("invoke_workflow outer", (("call_inner", (inner_tree,)), ("as_node", (inner_tree,))))
    ]


def test_uninstrument_restores_langgraph(tel: Captured) -> None:
    original = Pregel.__dict__["stream"], Pregel.__dict__["astream"]
    inst = LangGraphInstrumentor()
    inst.instrument(configure=False)
    assert Pregel.__dict__["stream"] is not original[0]
    inst.uninstrument()
    assert (Pregel.__dict__["stream"], Pregel.__dict__["astream"]) == original
    four_node_graph(FakeChatModel(responses=[ANSWER]), FakeRetriever()).invoke(STATE)
    assert tel.spans == ()


def test_instrument_configures_agentwatch_when_needed() -> None:
    agentwatch.shutdown()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    inst = LangGraphInstrumentor()
    inst.instrument(tracer_provider=provider)
    try:
        assert agentwatch.current() is not None
        four_node_graph(FakeChatModel(responses=[ANSWER]), FakeRetriever()).invoke(STATE)
    finally:
        inst.uninstrument()
        agentwatch.shutdown()
    assert trees(exporter.get_finished_spans()) == [FOUR_NODE_TREE]


def test_entry_point_is_registered() -> None:
    (ep,) = [e for e in entry_points(group="opentelemetry_instrumentor") if e.name == "langgraph"]
    assert ep.value == "agentwatch_langgraph:LangGraphInstrumentor"
    assert ep.load() is LangGraphInstrumentor


def test_opentelemetry_instrument_picks_it_up(tmp_path: Path) -> None:
    cli = Path(sys.executable).parent / "opentelemetry-instrument"
    if not cli.exists():
        pytest.skip("opentelemetry-instrument is not installed next to this Python")
    tests = Path(__file__).parent
    app = tmp_path / "app.py"
    app.write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {str(tests)!r})
            import agentwatch
            from lg_helpers import ANSWER, four_node_graph
            from agentwatch_langgraph.testing import FakeChatModel, FakeRetriever
            graph = four_node_graph(FakeChatModel(responses=[ANSWER]), FakeRetriever())
            graph.invoke({{"question": "q", "notes": []}})
            agentwatch.shutdown()
            """
        )
    )
    env = {
        **os.environ,
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "",
    }
    done = subprocess.run(
        [str(cli), sys.executable, str(app)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for name in ("invoke_workflow agent", "plan", "retrieval fake_retriever", "chat gpt-4o-mini"):
        assert f'"name": "{name}"' in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]
