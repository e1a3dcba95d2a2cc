"""Spans started inside a node -- by agentwatch's decorators, by an instrumented SDK client, or by
the user's own OpenTelemetry code -- nest under that node, in sync, thread-pool and async runs."""

from __future__ import annotations

import asyncio
import operator
from collections.abc import Iterator
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langgraph.graph import END, START, StateGraph
from lg_helpers import ANSWER, attr, canonical, cost, leaf, one, parent_of, spans_named, trees

import agentwatch
from agentwatch import names
from agentwatch.fake_provider import FakeProvider
from agentwatch.testing import Captured
from agentwatch_langgraph import CallbackHandler
from agentwatch_langgraph.testing import FakeChatModel

CHAT = "chat gpt-4o-mini"


class Items(TypedDict):
    items: Annotated[list[Any], operator.add]


@agentwatch.track_tool(name="lookup")
def lookup(key: str) -> str:
    return key.upper()


@agentwatch.track_inference(provider="openai", model="gpt-4o-mini")
def raw_completion(prompt: str) -> dict[str, Any]:
    # what an instrumented SDK client returns: an OpenAI-shaped response with usage
    return {"model": "gpt-4o-mini", "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": 4}}


@agentwatch.track_inference(provider="openai", model="gpt-4o-mini")
async def araw_completion(prompt: str) -> dict[str, Any]:
    await asyncio.sleep(0)
    return {"model": "gpt-4o-mini", "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": 4}}


def _work(tel: Captured, tag: str) -> None:
    tracer = tel.telemetry.tracer_provider.get_tracer("user-code")
    lookup(tag)
    raw_completion(f"{tag} a b")
    with tracer.start_as_current_span(f"user {tag}"):
        lookup(tag)


async def _awork(tel: Captured, tag: str) -> None:
    tracer = tel.telemetry.tracer_provider.get_tracer("user-code")
    lookup(tag)
    await araw_completion(f"{tag} a b")
    with tracer.start_as_current_span(f"user {tag}"):
        await asyncio.sleep(0)
        lookup(tag)


def _expected_node(tag: str) -> Any:
    return (tag, (leaf("execute_tool lookup"), leaf(CHAT), (f"user {tag}", (leaf("execute_tool lookup"),))))


def _check(tel: Captured, graph_name: str, tags: list[str], extra: tuple[Any, ...] = ()) -> None:
    (tree,) = trees(tel.spans)
    expected = (f"invoke_workflow {graph_name}", (*[_expected_node(t) for t in tags], *extra))
    assert canonical(tree) == canonical(expected)
    for tag in tags:
        node = one(tel.spans, tag)
        assert attr(node, names.ROLLUP_INPUT_TOKENS) == 3  # the tracked call inside rolls up to the node
        assert attr(node, names.ROLLUP_OUTPUT_TOKENS) == 4
        assert attr(node, names.ROLLUP_COST_USD) == pytest.approx(cost(3, 4), rel=1e-9)
    workflow = one(tel.spans, f"invoke_workflow {graph_name}")
    assert attr(workflow, names.ROLLUP_LLM_CALLS) == len(tags)


def _parallel_graph(tel: Captured, tags: list[str], asynchronous: bool) -> Any:
    g: StateGraph[Any] = StateGraph(Items)
    for tag in tags:
        if asynchronous:

            async def anode(s: Items, _tag: str = tag) -> dict[str, Any]:
                await _awork(tel, _tag)
                return {"items": [_tag]}

            g.add_node(tag, anode)
        else:

            def node(s: Items, _tag: str = tag) -> dict[str, Any]:
                _work(tel, _tag)
                return {"items": [_tag]}

            g.add_node(tag, node)
        g.add_edge(START, tag)
        g.add_edge(tag, END)
    return g.compile(name="p")


def test_single_node_sync(tel: Captured) -> None:
    _parallel_graph(tel, ["solo"], False).invoke({"items": []}, config={"callbacks": [CallbackHandler()]})
    _check(tel, "p", ["solo"])


def test_parallel_branches_on_worker_threads(tel: Captured) -> None:
    tags = ["b1", "b2", "b3", "b4"]
    _parallel_graph(tel, tags, False).invoke({"items": []}, config={"callbacks": [CallbackHandler()]})
    _check(tel, "p", tags)


async def test_async_nodes(tel: Captured) -> None:
    tags = ["a1", "a2", "a3"]
    await _parallel_graph(tel, tags, True).ainvoke({"items": []}, config={"callbacks": [CallbackHandler()]})
    _check(tel, "p", tags)


async def test_sync_nodes_under_ainvoke_run_in_executor_threads(tel: Captured) -> None:
    tags = ["s1", "s2"]
    await _parallel_graph(tel, tags, False).ainvoke({"items": []}, config={"callbacks": [CallbackHandler()]})
    _check(tel, "p", tags)


async def test_many_concurrent_async_runs_keep_their_own_nesting(tel: Captured) -> None:
    graph = _parallel_graph(tel, ["x", "y"], True)
    handler = CallbackHandler()
    await asyncio.gather(*(graph.ainvoke({"items": []}, config={"callbacks": [handler]}) for _ in range(10)))
    roots = [s for s in tel.spans if s.parent is None]
    assert len(roots) == 10
    for user_span in spans_named(tel.spans, "user x"):
        node = parent_of(tel.spans, user_span)
        assert node is not None and node.name == "x"
        assert node.context.trace_id == user_span.context.trace_id
    assert handler.open_runs == 0


def test_context_is_restored_after_the_run(tel: Captured) -> None:
    from opentelemetry import trace

    before = trace.get_current_span()
    _parallel_graph(tel, ["solo"], False).invoke({"items": []}, config={"callbacks": [CallbackHandler()]})
    assert trace.get_current_span() is before
    assert agentwatch.current_call().__class__.__name__ == "NoopCall"
    lookup("after")  # a call after the run is a root, not a child of an ended node
    assert parent_of(tel.spans, spans_named(tel.spans, "execute_tool lookup")[-1]) is None


async def test_context_after_an_async_run_parents_nothing_to_its_nodes(tel: Captured) -> None:
    from opentelemetry import trace

    tracer = tel.telemetry.tracer_provider.get_tracer("user-code")
    graph = _parallel_graph(tel, ["solo"], True)
    with tracer.start_as_current_span("request") as request:
        await graph.ainvoke({"items": []}, config={"callbacks": [CallbackHandler()]})
        # LangChain ends runs in a shielded task on a copy of the context, so the node's attach
        # cannot be undone here: what is left behind must point back at the request span
        assert trace.get_current_span().get_span_context() == request.get_span_context()
        lookup("after")
        await graph.ainvoke({"items": []}, config={"callbacks": [CallbackHandler()]})
    assert trace.get_current_span().get_span_context() == trace.INVALID_SPAN_CONTEXT
    (tree,) = trees(tel.spans)
    assert tree[0] == "request"
    assert [child[0] for child in tree[1]] == [
        "invoke_workflow p",
        "execute_tool lookup",
        "invoke_workflow p",
    ]
    assert agentwatch.current_call().__class__.__name__ == "NoopCall"


class _ModelCallingAnSdk(FakeChatModel):
    """A LangChain chat model that calls an instrumented SDK client, as ChatOpenAI does."""

    def _generate(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        response = raw_completion(" ".join(str(m.content) for m in messages))
        return ChatResult(
            generations=[
                ChatGeneration(
                    message=AIMessage(content=ANSWER, response_metadata={"model_name": response["model"]})
                )
            ]
        )

    async def _agenerate(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        response = await araw_completion(" ".join(str(m.content) for m in messages))
        return ChatResult(
            generations=[
                ChatGeneration(
                    message=AIMessage(content=ANSWER, response_metadata={"model_name": response["model"]})
                )
            ]
        )


def _model_graph(llm: Any, asynchronous: bool) -> Any:
    g: StateGraph[Any] = StateGraph(Items)
    if asynchronous:

        async def aask(s: Items) -> dict[str, Any]:
            return {"items": [(await llm.ainvoke("one two three four five")).content]}

        g.add_node("ask", aask)
    else:
        g.add_node("ask", lambda s: {"items": [llm.invoke("one two three four five").content]})
    g.add_edge(START, "ask")
    g.add_edge("ask", END)
    return g.compile(name="m")


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_instrumented_sdk_call_inside_a_langchain_model_is_one_span(
    tel: Captured, asynchronous: bool
) -> None:
    graph = _model_graph(_ModelCallingAnSdk(), asynchronous)
    config = {"callbacks": [CallbackHandler()]}
    if asynchronous:
        await graph.ainvoke({"items": []}, config=config)
    else:
        graph.invoke({"items": []}, config=config)
    assert trees(tel.spans) == [("invoke_workflow m", (("ask", (leaf(CHAT),)),))]
    chat = one(tel.spans, CHAT)
    assert attr(chat, names.GEN_AI_USAGE_INPUT_TOKENS) == 5  # lent by the SDK call inside
    assert attr(chat, names.GEN_AI_USAGE_OUTPUT_TOKENS) == 4
    assert attr(one(tel.spans, "ask"), names.ROLLUP_LLM_CALLS) == 1
    assert (
        tel.sample(
            "agentwatch_llm_calls_total",
            provider="openai",
            model="gpt-4o-mini",
            operation="chat",
            outcome="ok",
        )
        == 1
    )


@pytest.fixture
def fp() -> Iterator[FakeProvider]:
    with FakeProvider(seed=11) as provider:
        yield provider


def test_chat_openai_and_a_tracked_raw_sdk_call_in_nodes(tel: Captured, fp: FakeProvider) -> None:
    langchain_openai = pytest.importorskip("langchain_openai")
    openai = pytest.importorskip("openai")
    llm = langchain_openai.ChatOpenAI(model="gpt-4o-mini", base_url=fp.openai_base_url, api_key="test")
    client = openai.OpenAI(base_url=fp.openai_base_url, api_key="test")
    messages = [{"role": "user", "content": "Summarise the refund policy in one line."}]

    @agentwatch.track_inference(provider="openai", model="gpt-4o-mini")
    def direct() -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    seen: dict[str, Any] = {}

    def via_langchain(s: Items) -> dict[str, Any]:
        seen["message"] = llm.invoke(messages)
        return {"items": ["lc"]}

    def via_sdk(s: Items) -> dict[str, Any]:
        seen["response"] = direct()
        return {"items": ["sdk"]}

    g: StateGraph[Any] = StateGraph(Items)
    g.add_node("via_langchain", via_langchain)
    g.add_node("via_sdk", via_sdk)
    g.add_edge(START, "via_langchain")
    g.add_edge("via_langchain", "via_sdk")
    g.add_edge("via_sdk", END)
    g.compile(name="real").invoke({"items": []}, config={"callbacks": [CallbackHandler()]})

    assert trees(tel.spans) == [
        ("invoke_workflow real", (("via_langchain", (leaf(CHAT),)), ("via_sdk", (leaf(CHAT),))))
    ]
    usage = seen["response"].usage
    meta = seen["message"].usage_metadata
    assert (meta["input_tokens"], meta["output_tokens"]) == (usage.prompt_tokens, usage.completion_tokens)
    for node in ("via_langchain", "via_sdk"):
        (chat,) = tel.children(one(tel.spans, node))
        assert attr(chat, names.GEN_AI_USAGE_INPUT_TOKENS) == usage.prompt_tokens
        assert attr(chat, names.GEN_AI_RESPONSE_MODEL) == seen["response"].model
        assert attr(chat, names.GEN_AI_PROVIDER_NAME) == "openai"
    assert len(fp.requests_to("chat")) == 2


@pytest.mark.parametrize("mode", ["invoke", "ainvoke", "stream"])
async def test_chat_openai_over_an_instrumented_sdk_is_one_span(
    tel: Captured, fp: FakeProvider, mode: str
) -> None:
    langchain_openai = pytest.importorskip("langchain_openai")
    openai = pytest.importorskip("openai")
    agentwatch_openai = pytest.importorskip("agentwatch_openai")
    instrumentor = agentwatch_openai.OpenAIInstrumentor()
    instrumentor.instrument(configure=False)
    try:
        llm = langchain_openai.ChatOpenAI(
            model="gpt-4o-mini", base_url=fp.openai_base_url, api_key="test", stream_usage=True
        )
        client = openai.AsyncOpenAI(base_url=fp.openai_base_url, api_key="test")
        messages = [{"role": "user", "content": "Name one refund rule."}]
        seen: dict[str, Any] = {}

        async def ask(s: Items) -> dict[str, Any]:
            if mode == "stream":
                message = None
                async for chunk in llm.astream(messages):
                    message = chunk if message is None else message + chunk
                seen["message"] = message
            elif mode == "ainvoke":
                seen["message"] = await llm.ainvoke(messages)
            else:
                seen["message"] = await asyncio.to_thread(llm.invoke, messages)
            return {"items": ["asked"]}

        async def direct(s: Items) -> dict[str, Any]:
            seen["response"] = await client.chat.completions.create(model="gpt-4o-mini", messages=messages)
            return {"items": ["direct"]}

        g: StateGraph[Any] = StateGraph(Items)
        g.add_node("ask", ask)
        g.add_node("direct", direct)
        g.add_edge(START, "ask")
        g.add_edge("ask", "direct")
        g.add_edge("direct", END)
        await g.compile(name="sdk").ainvoke({"items": []}, config={"callbacks": [CallbackHandler()]})
    finally:
        instrumentor.uninstrument()

    assert len(fp.requests_to("chat")) == 2
    assert trees(tel.spans) == [("invoke_workflow sdk", (("ask", (leaf(CHAT),)), ("direct", (leaf(CHAT),))))]
    meta = seen["message"].usage_metadata
    ask_chat = tel.children(one(tel.spans, "ask"))[0]
    assert attr(ask_chat, names.GEN_AI_USAGE_INPUT_TOKENS) == meta["input_tokens"]
    assert attr(ask_chat, names.GEN_AI_USAGE_OUTPUT_TOKENS) == meta["output_tokens"]
    assert attr(ask_chat, names.SERVER_PORT) is None or attr(ask_chat, names.SERVER_PORT) == fp.port
    usage = seen["response"].usage
    direct_chat = tel.children(one(tel.spans, "direct"))[0]
    assert attr(direct_chat, names.GEN_AI_USAGE_INPUT_TOKENS) == usage.prompt_tokens
    assert attr(one(tel.spans, "invoke_workflow sdk"), names.ROLLUP_LLM_CALLS) == 2
    assert (
        tel.sample(
            "agentwatch_llm_calls_total",
            provider="openai",
            model="gpt-4o-mini",
            operation="chat",
            outcome="ok",
        )
        == 2
    )
