"""Every way of running a graph gives the same tree: invoke, ainvoke, stream, astream, batch, abatch,
threads, and many concurrent runs sharing one handler (each its own trace, exact totals)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from lg_helpers import (
    ANSWER,
    FOUR_NODE_TREE,
    attr,
    by_trace,
    cost,
    four_node_graph,
    four_node_usage,
    one,
    spans_named,
    trees,
)
from opentelemetry.sdk.trace import ReadableSpan

from agentwatch import names
from agentwatch.testing import Captured
from agentwatch_langgraph import CallbackHandler
from agentwatch_langgraph.testing import FakeChatModel, FakeRetriever

CHAT = "chat gpt-4o-mini"


def _state(question: str) -> dict[str, Any]:
    return {"question": question, "notes": []}


def _questions(n: int) -> list[str]:
    # question i has i + 1 words: every run's expected token totals differ
    return [" ".join(f"w{j}" for j in range(i + 1)) for i in range(n)]


def _check_traces(spans: Sequence[ReadableSpan], questions: list[str]) -> None:
    """One trace per run, each the exact four-node tree, each with its own run's usage."""
    traces = by_trace(spans)
    assert len(traces) == len(questions)
    expected_totals = set()
    for q in questions:
        usage = four_node_usage(q)
        expected_totals.add((sum(i for i, _ in usage.values()), sum(o for _, o in usage.values())))
    seen = set()
    for trace_spans in traces.values():
        assert trees(trace_spans) == [FOUR_NODE_TREE]
        workflow = one(trace_spans, "invoke_workflow agent")
        total_in = attr(workflow, names.ROLLUP_INPUT_TOKENS)
        total_out = attr(workflow, names.ROLLUP_OUTPUT_TOKENS)
        chats = spans_named(trace_spans, CHAT)
        assert sum(attr(c, names.GEN_AI_USAGE_INPUT_TOKENS) for c in chats) == total_in
        assert sum(attr(c, names.GEN_AI_USAGE_OUTPUT_TOKENS) for c in chats) == total_out
        q_words = attr(one(trace_spans, "plan"), names.ROLLUP_INPUT_TOKENS) - 1
        assert total_in == 3 * q_words + 5  # the three calls of one run, never another run's
        assert attr(workflow, names.ROLLUP_COST_USD) == pytest.approx(cost(total_in, total_out), rel=1e-9)
        seen.add((total_in, total_out))
    assert seen == expected_totals


def test_invoke(tel: Captured) -> None:
    graph = four_node_graph(FakeChatModel(responses=[ANSWER]), FakeRetriever())
    graph.invoke(_state("one two"), config={"callbacks": [CallbackHandler()]})
    _check_traces(tel.spans, ["one two"])


async def test_ainvoke_with_async_nodes(tel: Captured) -> None:
    graph = four_node_graph(FakeChatModel(responses=[ANSWER]), FakeRetriever(), asynchronous=True)
    handler = CallbackHandler()
    await graph.ainvoke(_state("one two"), config={"callbacks": [handler]})
    _check_traces(tel.spans, ["one two"])
    assert handler.open_runs == 0


async def test_ainvoke_with_sync_nodes_on_executor_threads(tel: Captured) -> None:
    graph = four_node_graph(FakeChatModel(responses=[ANSWER]), FakeRetriever())
    await graph.ainvoke(_state("one two three"), config={"callbacks": [CallbackHandler()]})
    _check_traces(tel.spans, ["one two three"])


@pytest.mark.parametrize("mode", ["values", "updates", "debug"])
def test_stream(tel: Captured, mode: str) -> None:
    graph = four_node_graph(FakeChatModel(responses=[ANSWER]), FakeRetriever())
    chunks = list(graph.stream(_state("a b"), config={"callbacks": [CallbackHandler()]}, stream_mode=mode))
    assert chunks
    _check_traces(tel.spans, ["a b"])


def test_stream_messages_records_time_to_first_chunk(tel: Captured) -> None:
    graph = four_node_graph(FakeChatModel(responses=[ANSWER]), FakeRetriever())
    handler = CallbackHandler()
    tokens = [
        m for m, _ in graph.stream(_state("a b"), config={"callbacks": [handler]}, stream_mode="messages")
    ]
    assert "".join(str(t.content) for t in tokens if getattr(t, "content", None)).count("alpha") == 3
    _check_traces(tel.spans, ["a b"])
    for chat in spans_named(tel.spans, CHAT):
        ttfc = attr(chat, names.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)
        assert isinstance(ttfc, float)
        assert 0 <= ttfc <= (chat.end_time - chat.start_time) / 1e9
        assert attr(chat, names.GEN_AI_REQUEST_STREAM) is True
    assert (
        tel.sample("agentwatch_llm_time_to_first_token_seconds_count", provider="openai", model="gpt-4o-mini")
        == 3
    )
    assert handler.open_runs == 0


async def test_astream_with_async_nodes(tel: Captured) -> None:
    graph = four_node_graph(FakeChatModel(responses=[ANSWER]), FakeRetriever(), asynchronous=True)
    chunks = [c async for c in graph.astream(_state("a b c"), config={"callbacks": [CallbackHandler()]})]
    assert len(chunks) == 4
    _check_traces(tel.spans, ["a b c"])


async def test_astream_messages_streams_the_async_model(tel: Captured) -> None:
    graph = four_node_graph(FakeChatModel(responses=[ANSWER]), FakeRetriever(), asynchronous=True)
    config = {"callbacks": [CallbackHandler()]}
    parts = [p async for p in graph.astream(_state("a b c"), config=config, stream_mode="messages")]
    assert parts
    _check_traces(tel.spans, ["a b c"])
    assert all(attr(c, names.GEN_AI_REQUEST_STREAM) is True for c in spans_named(tel.spans, CHAT))


def test_batch_shares_one_handler(tel: Captured) -> None:
    graph = four_node_graph(FakeChatModel(responses=[ANSWER]), FakeRetriever())
    questions = _questions(6)
    handler = CallbackHandler()
    graph.batch([_state(q) for q in questions], config={"callbacks": [handler]})
    _check_traces(tel.spans, questions)
    assert handler.open_runs == 0


async def test_abatch(tel: Captured) -> None:
    graph = four_node_graph(FakeChatModel(responses=[ANSWER]), FakeRetriever(), asynchronous=True)
    questions = _questions(5)
    await graph.abatch([_state(q) for q in questions], config={"callbacks": [CallbackHandler()]})
    _check_traces(tel.spans, questions)


def test_threads_share_one_handler(tel: Captured) -> None:
    graph = four_node_graph(FakeChatModel(responses=[ANSWER]), FakeRetriever())
    questions = _questions(16)
    handler = CallbackHandler()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda q: graph.invoke(_state(q), config={"callbacks": [handler]}), questions))
    _check_traces(tel.spans, questions)
    assert handler.open_runs == 0


async def test_fifty_concurrent_ainvokes_share_one_handler(tel: Captured) -> None:
    graph = four_node_graph(FakeChatModel(responses=[ANSWER]), FakeRetriever(), asynchronous=True)
    questions = _questions(50)
    handler = CallbackHandler()
    await asyncio.gather(*(graph.ainvoke(_state(q), config={"callbacks": [handler]}) for q in questions))
    _check_traces(tel.spans, questions)
    assert handler.open_runs == 0
    usage = [four_node_usage(q) for q in questions]
    total_in = sum(i for u in usage for i, _ in u.values())
    assert (
        tel.sample(
            "agentwatch_llm_tokens_total",
            provider="openai",
            model="gpt-4o-mini",
            operation="chat",
            type="input",
        )
        == total_in
    )
    assert tel.sample("agentwatch_stage_runs_total", graph="agent", stage="draft", outcome="ok") == 50


async def test_fifty_concurrent_ainvokes_of_sync_nodes(tel: Captured) -> None:
    graph = four_node_graph(FakeChatModel(responses=[ANSWER]), FakeRetriever())
    questions = _questions(50)
    handler = CallbackHandler()
    await asyncio.gather(*(graph.ainvoke(_state(q), config={"callbacks": [handler]}) for q in questions))
    _check_traces(tel.spans, questions)
    assert handler.open_runs == 0
