"""Outcomes: errors reach the caller unchanged and mark node and graph; interrupts are not errors and
the resume links back; retries carry the attempt; cancelled and abandoned runs leave nothing open."""

from __future__ import annotations

import asyncio
import gc
import operator
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, RetryPolicy, interrupt
from lg_helpers import ANSWER, State, attr, by_trace, four_node_graph, leaf, one, spans_named, trees
from opentelemetry.trace import StatusCode

from agentwatch import errors, names
from agentwatch.testing import Captured
from agentwatch_langgraph import CallbackHandler, _mapping
from agentwatch_langgraph.testing import FakeChatModel, FakeRetriever

CHAT = "chat gpt-4o-mini"


class Items(TypedDict):
    items: Annotated[list[Any], operator.add]


class Boom(Exception):
    pass


def test_node_exception_reaches_the_caller_unchanged_and_marks_node_and_graph(tel: Captured) -> None:
    raised = Boom("no stock")

    def broken(s: Items) -> dict[str, Any]:
        raise raised

    g: StateGraph[Any] = StateGraph(Items)
    g.add_node("ok", lambda s: {"items": [1]})
    g.add_node("broken", broken)
    g.add_edge(START, "ok")
    g.add_edge("ok", "broken")
    g.add_edge("broken", END)
    graph = g.compile(name="shop")
    handler = CallbackHandler()
    with pytest.raises(Boom) as info:
        graph.invoke({"items": []}, config={"callbacks": [handler]})
    assert info.value is raised

    assert trees(tel.spans) == [("invoke_workflow shop", (leaf("ok"), leaf("broken")))]
    for name in ("broken", "invoke_workflow shop"):
        span = one(tel.spans, name)
        assert attr(span, names.STAGE_OUTCOME) == "error"
        assert attr(span, names.ERROR_TYPE) == "Boom"
        assert span.status.status_code == StatusCode.ERROR
    assert attr(one(tel.spans, "ok"), names.STAGE_OUTCOME) == "ok"
    assert tel.sample("agentwatch_stage_runs_total", graph="shop", stage="broken", outcome="error") == 1
    assert handler.open_runs == 0


def test_model_error_is_an_error_inference_span(tel: Captured) -> None:
    class Failing(FakeChatModel):
        def _generate(self, *args: Any, **kwargs: Any) -> Any:
            raise TimeoutError("provider timed out")

    llm = Failing()
    g: StateGraph[Any] = StateGraph(Items)
    g.add_node("ask", lambda s: {"items": [llm.invoke("hi")]})
    g.add_edge(START, "ask")
    g.add_edge("ask", END)
    with pytest.raises(TimeoutError):
        g.compile(name="m").invoke({"items": []}, config={"callbacks": [CallbackHandler()]})
    chat = one(tel.spans, CHAT)
    assert chat.status.status_code == StatusCode.ERROR
    assert attr(chat, names.ERROR_TYPE) == "TimeoutError"
    assert (
        tel.sample(
            "agentwatch_llm_errors_total", provider="openai", model="gpt-4o-mini", error_type="TimeoutError"
        )
        == 1
    )
    assert attr(one(tel.spans, "ask"), names.ROLLUP_LLM_CALLS) == 1
    assert attr(one(tel.spans, "ask"), names.ROLLUP_INPUT_TOKENS) == 0


def test_retry_policy_attempts(tel: Captured) -> None:
    tries = {"n": 0}

    def flaky(s: Items) -> dict[str, Any]:
        tries["n"] += 1
        if tries["n"] < 3:
            raise ConnectionError("flaky upstream")
        return {"items": ["done"]}

    g: StateGraph[Any] = StateGraph(Items)
    g.add_node("flaky", flaky, retry_policy=RetryPolicy(max_attempts=3, initial_interval=0.001, jitter=False))
    g.add_edge(START, "flaky")
    g.add_edge("flaky", END)
    g.compile(name="retry").invoke({"items": []}, config={"callbacks": [CallbackHandler()]})

    runs = sorted(spans_named(tel.spans, "flaky"), key=lambda s: s.start_time or 0)
    assert [attr(s, names.STAGE_ATTEMPT) for s in runs] == [None, 2, 3]
    assert [attr(s, names.STAGE_OUTCOME) for s in runs] == ["error", "error", "ok"]
    assert [attr(s, names.ERROR_TYPE) for s in runs] == ["ConnectionError", "ConnectionError", None]
    assert {attr(s, names.GRAPH_STEP) for s in runs} == {1}
    assert attr(one(tel.spans, "invoke_workflow retry"), names.STAGE_OUTCOME) == "ok"
    assert tel.sample("agentwatch_stage_runs_total", graph="retry", stage="flaky", outcome="error") == 2
    assert tel.sample("agentwatch_stage_runs_total", graph="retry", stage="flaky", outcome="ok") == 1


def _approval_graph(llm: FakeChatModel) -> Any:
    def draft(s: Items) -> dict[str, Any]:
        return {"items": [llm.invoke("draft the refund").content]}

    def approve(s: Items) -> dict[str, Any]:
        decision = interrupt({"question": "approve the refund?"})
        return {"items": [decision]}

    g: StateGraph[Any] = StateGraph(Items)
    g.add_node("draft", draft)
    g.add_node("approve", approve)
    g.add_node("send", lambda s: {"items": ["sent"]})
    g.add_edge(START, "draft")
    g.add_edge("draft", "approve")
    g.add_edge("approve", "send")
    g.add_edge("send", END)
    return g.compile(name="refund", checkpointer=InMemorySaver())


def test_interrupt_is_not_an_error_and_the_resume_links_back(tel: Captured) -> None:
    graph = _approval_graph(FakeChatModel(responses=[ANSWER]))
    handler = CallbackHandler()
    config = {"callbacks": [handler], "configurable": {"thread_id": "ticket-7"}}
    first = graph.invoke({"items": []}, config=config)
    assert "__interrupt__" in first
    second = graph.invoke(Command(resume="yes"), config=config)
    assert second["items"][-2:] == ["yes", "sent"]

    traces = sorted(by_trace(tel.spans).values(), key=lambda t: min(s.start_time or 0 for s in t))
    assert len(traces) == 2
    paused, resumed = traces
    assert trees(paused) == [("invoke_workflow refund", (("draft", (leaf(CHAT),)), leaf("approve")))]
    assert trees(resumed) == [("invoke_workflow refund", (leaf("approve"), leaf("send")))]

    paused_graph = one(paused, "invoke_workflow refund")
    resumed_graph = one(resumed, "invoke_workflow refund")
    for span in (paused_graph, one(paused, "approve")):
        assert attr(span, names.STAGE_OUTCOME) == "interrupted"
        assert span.status.status_code != StatusCode.ERROR
        assert attr(span, names.ERROR_TYPE) is None
    assert attr(resumed_graph, names.STAGE_OUTCOME) == "ok"
    assert attr(one(resumed, "approve"), names.STAGE_OUTCOME) == "ok"
    assert attr(paused_graph, names.GEN_AI_CONVERSATION_ID) == "ticket-7"
    assert attr(resumed_graph, names.GEN_AI_CONVERSATION_ID) == "ticket-7"
    assert len(resumed_graph.links) == 1
    link = resumed_graph.links[0].context
    assert (link.trace_id, link.span_id) == (paused_graph.context.trace_id, paused_graph.context.span_id)
    assert paused_graph.links == ()
    assert (
        tel.sample("agentwatch_stage_runs_total", graph="refund", stage="approve", outcome="interrupted") == 1
    )
    assert tel.sample("agentwatch_stage_runs_total", graph="refund", stage="approve", outcome="ok") == 1
    assert handler.open_runs == 0


def test_each_handler_instance_links_the_resume(tel: Captured) -> None:
    # a new handler per request (a common pattern) still links the resume to the paused run
    graph = _approval_graph(FakeChatModel(responses=[ANSWER]))
    configurable = {"thread_id": "ticket-8"}
    graph.invoke({"items": []}, config={"callbacks": [CallbackHandler()], "configurable": configurable})
    graph.invoke(
        Command(resume="no"), config={"callbacks": [CallbackHandler()], "configurable": configurable}
    )
    paused, resumed = sorted(
        (s for s in tel.spans if s.name == "invoke_workflow refund"), key=lambda s: s.start_time or 0
    )
    assert [link.context.span_id for link in resumed.links] == [paused.context.span_id]


def test_static_breakpoint_is_an_interrupt_and_resume_with_none_links(tel: Captured) -> None:
    g: StateGraph[Any] = StateGraph(Items)
    g.add_node("prepare", lambda s: {"items": [1]})
    g.add_node("execute", lambda s: {"items": [2]})
    g.add_edge(START, "prepare")
    g.add_edge("prepare", "execute")
    g.add_edge("execute", END)
    graph = g.compile(name="gated", checkpointer=InMemorySaver(), interrupt_before=["execute"])
    config = {"callbacks": [CallbackHandler()], "configurable": {"thread_id": "gate-1"}}
    graph.invoke({"items": []}, config=config)
    graph.invoke(None, config=config)
    paused, resumed = sorted(
        (s for s in tel.spans if s.name == "invoke_workflow gated"), key=lambda s: s.start_time or 0
    )
    assert attr(paused, names.STAGE_OUTCOME) == "interrupted"
    assert attr(resumed, names.STAGE_OUTCOME) == "ok"
    assert [link.context.span_id for link in resumed.links] == [paused.context.span_id]


def test_interrupt_inside_a_subgraph(tel: Captured) -> None:
    def ask(s: Items) -> dict[str, Any]:
        return {"items": [interrupt("ok?")]}

    sg: StateGraph[Any] = StateGraph(Items)
    sg.add_node("ask", ask)
    sg.add_edge(START, "ask")
    sg.add_edge("ask", END)
    sub = sg.compile(name="inner")
    g: StateGraph[Any] = StateGraph(Items)
    g.add_node("delegate", sub)
    g.add_edge(START, "delegate")
    g.add_edge("delegate", END)
    graph = g.compile(name="outer", checkpointer=InMemorySaver())
    graph.invoke(
        {"items": []}, config={"callbacks": [CallbackHandler()], "configurable": {"thread_id": "s-1"}}
    )
    assert trees(tel.spans) == [
        ("invoke_workflow outer", (("delegate", (("invoke_workflow inner", (leaf("ask"),)),)),))
    ]
    for span in tel.spans:
        assert attr(span, names.STAGE_OUTCOME) == "interrupted", span.name
        assert span.status.status_code != StatusCode.ERROR


async def test_cancelled_astream_closes_every_open_span(tel: Captured) -> None:
    started = asyncio.Event()

    async def slow(s: Items) -> dict[str, Any]:
        started.set()
        await asyncio.sleep(30)
        return {"items": ["late"]}

    g: StateGraph[Any] = StateGraph(Items)
    g.add_node("fast", lambda s: {"items": ["fast"]})
    g.add_node("slow", slow)
    g.add_edge(START, "fast")
    g.add_edge("fast", "slow")
    g.add_edge("slow", END)
    graph = g.compile(name="long")
    handler = CallbackHandler()

    async def consume() -> None:
        async for _ in graph.astream({"items": []}, config={"callbacks": [handler]}):
            pass

    task = asyncio.create_task(consume())
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert handler.open_runs == 0
    assert sorted(s.name for s in tel.spans) == ["fast", "invoke_workflow long", "slow"]
    for name in ("slow", "invoke_workflow long"):
        span = one(tel.spans, name)
        assert attr(span, names.STAGE_OUTCOME) == "error"
        assert attr(span, names.ERROR_TYPE) == "CancelledError"
    assert attr(one(tel.spans, "fast"), names.STAGE_OUTCOME) == "ok"


async def test_cancelled_ainvoke_task_with_a_model_in_flight(tel: Captured) -> None:
    started = asyncio.Event()

    class Slow(FakeChatModel):
        async def _agenerate(self, *args: Any, **kwargs: Any) -> Any:
            started.set()
            await asyncio.sleep(30)
            raise AssertionError("not reached")

    llm = Slow()

    async def ask(s: Items) -> dict[str, Any]:
        return {"items": [await llm.ainvoke("hi")]}

    g: StateGraph[Any] = StateGraph(Items)
    g.add_node("ask", ask)
    g.add_edge(START, "ask")
    g.add_edge("ask", END)
    handler = CallbackHandler()
    task = asyncio.create_task(g.compile(name="c").ainvoke({"items": []}, config={"callbacks": [handler]}))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert handler.open_runs == 0
    assert sorted(s.name for s in tel.spans) == sorted([CHAT, "ask", "invoke_workflow c"])
    assert all(attr(s, names.ERROR_TYPE) == "CancelledError" for s in tel.spans)


def test_closed_stream_ends_the_run(tel: Captured) -> None:
    graph = four_node_graph(FakeChatModel(responses=[ANSWER]), FakeRetriever())
    handler = CallbackHandler()
    stream = graph.stream({"question": "q", "notes": []}, config={"callbacks": [handler]})
    next(stream)
    stream.close()
    assert handler.open_runs == 0
    workflow = one(tel.spans, "invoke_workflow agent")
    assert attr(workflow, names.STAGE_OUTCOME) == "error"
    assert attr(workflow, names.ERROR_TYPE) == "GeneratorExit"
    assert [s.name for s in tel.spans if s.name in ("plan", "retrieve")] == ["plan"]


def test_dropped_stream_is_ended_when_collected(tel: Captured) -> None:
    graph = four_node_graph(FakeChatModel(responses=[ANSWER]), FakeRetriever())
    handler = CallbackHandler()
    stream = graph.stream({"question": "q", "notes": []}, config={"callbacks": [handler]})
    next(stream)
    del stream
    gc.collect()
    assert handler.open_runs == 0
    assert attr(one(tel.spans, "invoke_workflow agent"), names.ERROR_TYPE) == "GeneratorExit"


def test_a_failing_handler_never_reaches_the_graph(tel: Captured, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("adapter bug")

    monkeypatch.setattr(_mapping, "read_llm_result", broken)
    monkeypatch.setattr(_mapping, "is_node_run", broken)
    graph = four_node_graph(FakeChatModel(responses=[ANSWER]), FakeRetriever())
    handler = CallbackHandler()
    result = graph.invoke({"question": "q", "notes": []}, config={"callbacks": [handler]})
    assert result["notes"][0] == ANSWER
    assert errors.counts()["langgraph"] >= 4
    assert (
        tel.sample("agentwatch_internal_errors_total", component="langgraph") == errors.counts()["langgraph"]
    )
    assert handler.open_runs == 0


def test_nothing_is_recorded_before_configure() -> None:
    graph = four_node_graph(FakeChatModel(responses=[ANSWER]), FakeRetriever())
    handler = CallbackHandler()
    result = graph.invoke({"question": "q", "notes": []}, config={"callbacks": [handler]})
    assert result["notes"][-1] == ANSWER
    assert handler.open_runs == 0


def test_error_state_is_cleared_between_runs(tel: Captured) -> None:
    graph = four_node_graph(FakeChatModel(responses=[ANSWER]), FakeRetriever())
    state: State = {"question": "q", "notes": []}
    handler = CallbackHandler()
    for _ in range(3):
        graph.invoke(state, config={"callbacks": [handler]})
    assert len(spans_named(tel.spans, "invoke_workflow agent")) == 3
    assert handler.open_runs == 0
