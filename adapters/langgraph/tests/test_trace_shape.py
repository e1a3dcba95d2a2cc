"""The span tree of real LangGraph runs: workflow, one stage per node execution, model / tool /
retrieval spans, no noise, subgraphs nested, rollups exact."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.types import Command, Send
from lg_helpers import (
    ANSWER,
    FOUR_NODE_TREE,
    State,
    attr,
    canonical,
    cost,
    four_node_graph,
    four_node_usage,
    leaf,
    one,
    parent_of,
    spans_named,
    trees,
    words,
)
from opentelemetry import trace

from agentwatch import names
from agentwatch.testing import Captured
from agentwatch_langgraph import CallbackHandler
from agentwatch_langgraph.testing import FakeChatModel, FakeRetriever

CHAT = "chat gpt-4o-mini"


class Items(TypedDict):
    items: Annotated[list[Any], operator.add]


def test_four_node_run_is_one_tree_with_exact_usage_cost_and_rollups(tel: Captured) -> None:
    graph = four_node_graph(FakeChatModel(responses=[ANSWER]), FakeRetriever(k=3))
    question = "what is the refund policy"
    handler = CallbackHandler()
    graph.invoke({"question": question, "notes": []}, config={"callbacks": [handler]})

    spans = tel.spans
    assert trees(spans) == [FOUR_NODE_TREE]
    assert len(spans) == 9  # graph + 4 nodes + 3 model calls + 1 retrieval, nothing else
    assert len({s.context.trace_id for s in spans}) == 1
    expected = four_node_usage(question)
    for step, node in enumerate(("plan", "retrieve", "draft", "review"), start=1):
        stage = one(spans, node)
        assert attr(stage, names.STAGE_NAME) == node
        assert attr(stage, names.GRAPH_NAME) == "agent"
        assert attr(stage, names.GRAPH_STEP) == step
        assert attr(stage, names.STAGE_OUTCOME) == "ok"
        assert attr(stage, names.STAGE_ATTEMPT) is None
        inp, out = expected.get(node, (0, 0))
        assert attr(stage, names.ROLLUP_INPUT_TOKENS) == inp
        assert attr(stage, names.ROLLUP_OUTPUT_TOKENS) == out
        assert attr(stage, names.ROLLUP_LLM_CALLS) == (0 if node == "retrieve" else 1)
        assert attr(stage, names.ROLLUP_COST_USD) == pytest.approx(cost(inp, out), rel=1e-9)
        for model_span in spans_named(tel.children(stage), CHAT):
            assert attr(model_span, names.GEN_AI_PROVIDER_NAME) == "openai"
            assert attr(model_span, names.GEN_AI_USAGE_INPUT_TOKENS) == inp
            assert attr(model_span, names.GEN_AI_USAGE_OUTPUT_TOKENS) == out
            assert attr(model_span, names.COST_USD) == pytest.approx(cost(inp, out), rel=1e-9)
    workflow = one(spans, "invoke_workflow agent")
    total_in = sum(i for i, _ in expected.values())
    total_out = sum(o for _, o in expected.values())
    assert attr(workflow, names.ROLLUP_INPUT_TOKENS) == total_in
    assert attr(workflow, names.ROLLUP_OUTPUT_TOKENS) == total_out
    assert attr(workflow, names.ROLLUP_LLM_CALLS) == 3
    assert attr(workflow, names.ROLLUP_COST_USD) == pytest.approx(cost(total_in, total_out), rel=1e-9)
    assert attr(workflow, names.STAGE_OUTCOME) == "ok"
    assert attr(workflow, names.GEN_AI_OPERATION_NAME) == "invoke_workflow"
    retrieval = one(spans, "retrieval fake_retriever")
    assert attr(retrieval, names.RETRIEVAL_RETURNED) == 3
    assert attr(retrieval, names.RETRIEVAL_TOP_SCORE) == 0.9
    assert handler.open_runs == 0


def test_graph_name_comes_from_the_handler_then_run_name_then_the_graph(tel: Captured) -> None:
    graph = four_node_graph(FakeChatModel(responses=[ANSWER]), FakeRetriever(), name="compiled")
    state = {"question": "q", "notes": []}
    graph.invoke(state, config={"callbacks": [CallbackHandler()]})
    graph.invoke(state, config={"callbacks": [CallbackHandler()], "run_name": "from_run"})
    graph.invoke(state, config={"callbacks": [CallbackHandler(graph_name="mine")], "run_name": "from_run"})
    roots = [s for s in tel.spans if s.parent is None]
    assert sorted(s.name for s in roots) == sorted(
        ["invoke_workflow compiled", "invoke_workflow from_run", "invoke_workflow mine"]
    )
    plan_graphs = sorted(attr(s, names.GRAPH_NAME) for s in spans_named(tel.spans, "plan"))
    assert plan_graphs == ["compiled", "from_run", "mine"]


def test_conditional_edge_is_a_route_on_the_node_not_a_span(tel: Captured) -> None:
    llm = FakeChatModel(responses=[ANSWER])

    def classify(s: State) -> dict[str, Any]:
        return {"notes": [llm.invoke(s["question"]).content]}

    def pick(s: State) -> str:
        return "billing" if "refund" in s["question"] else "general"

    g: StateGraph[Any] = StateGraph(State)
    g.add_node("classify", classify)
    g.add_node("billing", lambda s: {"notes": ["b"]})
    g.add_node("general", lambda s: {"notes": ["g"]})
    g.add_edge(START, "classify")
    g.add_conditional_edges("classify", pick, ["billing", "general"])
    g.add_edge("billing", END)
    g.add_edge("general", END)
    graph = g.compile(name="router")
    graph.invoke({"question": "refund please", "notes": []}, config={"callbacks": [CallbackHandler()]})

    assert trees(tel.spans) == [
        ("invoke_workflow router", (("classify", (leaf(CHAT),)), leaf("billing"))),
    ]
    assert attr(one(tel.spans, "classify"), names.ROUTE_TO) == ("billing",)


def test_verbose_gives_internal_runnables_spans(tel: Captured) -> None:
    llm = FakeChatModel(responses=[ANSWER])
    chain = ChatPromptTemplate.from_messages([("user", "{question}")]) | llm | StrOutputParser()

    def answer(s: State) -> dict[str, Any]:
        return {"notes": [chain.invoke({"question": s["question"]})]}

    g: StateGraph[Any] = StateGraph(State)
    g.add_node("answer", answer)
    g.add_edge(START, "answer")
    g.add_conditional_edges("answer", lambda s: END, [END])
    graph = g.compile(name="lcel")
    state = {"question": "one two", "notes": []}

    graph.invoke(state, config={"callbacks": [CallbackHandler()]})
    quiet = trees(tel.spans)
    tel.clear()
    graph.invoke(state, config={"callbacks": [CallbackHandler(verbose=True)]})
    loud = trees(tel.spans)

    assert quiet == [("invoke_workflow lcel", (("answer", (leaf(CHAT),)),))]
    assert loud == [
        (
            "invoke_workflow lcel",
            (
                (
                    "answer",
                    (
                        (
                            "RunnableSequence",
                            (leaf("ChatPromptTemplate"), leaf(CHAT), leaf("StrOutputParser")),
                        ),
                        leaf("RunnableCallable"),  # the edge function
                    ),
                ),
            ),
        )
    ]
    assert attr(one(tel.spans, "answer"), names.ROUTE_TO) == ("__end__",)
    assert attr(one(tel.spans, CHAT), names.GEN_AI_USAGE_INPUT_TOKENS) == 2


def test_parallel_branches_on_worker_threads_nest_under_their_nodes(tel: Captured) -> None:
    llm = FakeChatModel(responses=[ANSWER])
    g: StateGraph[Any] = StateGraph(Items)
    for name in ("left", "right", "middle"):

        def node(s: Items, _name: str = name) -> dict[str, Any]:
            return {"items": [llm.invoke(f"{_name} branch prompt").content]}

        g.add_node(name, node)
        g.add_edge(START, name)
        g.add_edge(name, "join")
    g.add_node("join", lambda s: {"items": ["joined"]})
    g.add_edge("join", END)
    graph = g.compile(name="fan")
    graph.invoke({"items": []}, config={"callbacks": [CallbackHandler()]})

    (tree,) = trees(tel.spans)
    assert canonical(tree) == canonical(
        (
            "invoke_workflow fan",
            (
                ("left", (leaf(CHAT),)),
                ("right", (leaf(CHAT),)),
                ("middle", (leaf(CHAT),)),
                leaf("join"),
            ),
        )
    )
    workflow = one(tel.spans, "invoke_workflow fan")
    assert attr(workflow, names.ROLLUP_INPUT_TOKENS) == 9
    assert attr(workflow, names.ROLLUP_LLM_CALLS) == 3
    assert {attr(s, names.GRAPH_STEP) for s in spans_named(tel.spans, "left")} == {1}
    assert attr(one(tel.spans, "join"), names.GRAPH_STEP) == 2


def test_send_fan_out_of_20(tel: Captured) -> None:
    llm = FakeChatModel(responses=[ANSWER])

    def work(s: dict[str, Any]) -> dict[str, Any]:
        return {"items": [llm.invoke(" ".join(["w"] * s["n"])).content]}

    g: StateGraph[Any] = StateGraph(Items)
    g.add_node("split", lambda s: {"items": []})
    g.add_node("work", work)
    g.add_node("reduce", lambda s: {"items": [len(s["items"])]})
    g.add_edge(START, "split")
    g.add_conditional_edges("split", lambda s: [Send("work", {"n": n}) for n in range(1, 21)], ["work"])
    g.add_edge("work", "reduce")
    g.add_edge("reduce", END)
    graph = g.compile(name="mapreduce")
    result = graph.invoke({"items": []}, config={"callbacks": [CallbackHandler()]})
    assert result["items"][-1] == 20

    (tree,) = trees(tel.spans)
    assert canonical(tree) == canonical(
        ("invoke_workflow mapreduce", (leaf("split"), *[("work", (leaf(CHAT),))] * 20, leaf("reduce")))
    )
    works = spans_named(tel.spans, "work")
    assert sorted(attr(s, names.ROLLUP_INPUT_TOKENS) for s in works) == list(range(1, 21))
    assert {attr(s, names.GRAPH_STEP) for s in works} == {2}
    assert all(attr(s, names.STAGE_ATTEMPT) is None for s in works)
    assert attr(one(tel.spans, "split"), names.ROUTE_TO) == ("work",)
    workflow = one(tel.spans, "invoke_workflow mapreduce")
    assert attr(workflow, names.ROLLUP_INPUT_TOKENS) == sum(range(1, 21))
    assert attr(workflow, names.ROLLUP_OUTPUT_TOKENS) == 20 * words(ANSWER)
    assert attr(workflow, names.ROLLUP_LLM_CALLS) == 20
    assert tel.sample("agentwatch_stage_runs_total", graph="mapreduce", stage="work", outcome="ok") == 20


def _subgraph(llm: FakeChatModel) -> Any:
    def inner(s: Items) -> dict[str, Any]:
        return {"items": [llm.invoke("inner prompt here").content]}

    sg: StateGraph[Any] = StateGraph(Items)
    sg.add_node("inner", inner)
    sg.add_edge(START, "inner")
    sg.add_edge("inner", END)
    return sg.compile(name="child")


def test_subgraph_as_a_node_is_a_nested_workflow(tel: Captured) -> None:
    llm = FakeChatModel(responses=[ANSWER])
    sub = _subgraph(llm)
    g: StateGraph[Any] = StateGraph(Items)
    g.add_node("before", lambda s: {"items": [llm.invoke("a b").content]})
    g.add_node("delegate", sub)
    g.add_edge(START, "before")
    g.add_edge("before", "delegate")
    g.add_edge("delegate", END)
    graph = g.compile(name="parent")
    graph.invoke({"items": []}, config={"callbacks": [CallbackHandler()]})

    assert trees(tel.spans) == [
        (
            "invoke_workflow parent",
            (
                ("before", (leaf(CHAT),)),
                ("delegate", (("invoke_workflow child", (("inner", (leaf(CHAT),)),)),)),
            ),
        )
    ]
    inner = one(tel.spans, "inner")
    assert attr(inner, names.GRAPH_NAME) == "child"
    assert attr(inner, names.GRAPH_STEP) == 1
    delegate = one(tel.spans, "delegate")
    assert attr(delegate, names.GRAPH_NAME) == "parent"
    assert attr(delegate, names.ROLLUP_INPUT_TOKENS) == 3
    assert attr(one(tel.spans, "invoke_workflow child"), names.ROLLUP_INPUT_TOKENS) == 3
    assert attr(one(tel.spans, "invoke_workflow parent"), names.ROLLUP_INPUT_TOKENS) == 5
    assert attr(one(tel.spans, "invoke_workflow parent"), names.ROLLUP_LLM_CALLS) == 2
    assert tel.sample("agentwatch_stage_runs_total", graph="child", stage="inner", outcome="ok") == 1


def test_graph_invoked_inside_a_node_nests_under_that_node(tel: Captured) -> None:
    llm = FakeChatModel(responses=[ANSWER])
    sub = _subgraph(llm)
    g: StateGraph[Any] = StateGraph(Items)

    def caller(s: Items) -> Any:
        return sub.invoke(s)

    g.add_node("caller", caller)
    g.add_edge(START, "caller")
    g.add_edge("caller", END)
    graph = g.compile(name="outer")
    graph.invoke({"items": []}, config={"callbacks": [CallbackHandler()]})
    assert trees(tel.spans) == [
        ("invoke_workflow outer", (("caller", (("invoke_workflow child", (("inner", (leaf(CHAT),)),)),)),))
    ]


def test_graph_with_its_own_handler_inside_another_graphs_node(tel: Captured) -> None:
    llm = FakeChatModel(responses=[ANSWER])
    sub = _subgraph(llm)
    g: StateGraph[Any] = StateGraph(Items)
    g.add_node("caller", lambda s: sub.invoke(s, config={"callbacks": [CallbackHandler()]}))
    g.add_edge(START, "caller")
    g.add_edge("caller", END)
    graph = g.compile(name="outer")
    graph.invoke({"items": []}, config={"callbacks": [CallbackHandler()]})
    assert trees(tel.spans) == [
        ("invoke_workflow outer", (("caller", (("invoke_workflow child", (("inner", (leaf(CHAT),)),)),)),))
    ]
    # the inner run is a separate top-level run of another handler: its cost still reaches the node
    assert attr(one(tel.spans, "caller"), names.ROLLUP_INPUT_TOKENS) == 3


def test_graph_invoked_inside_a_user_span_is_its_child(tel: Captured) -> None:
    graph = four_node_graph(FakeChatModel(responses=[ANSWER]), FakeRetriever())
    tracer = tel.telemetry.tracer_provider.get_tracer("user-app")
    with tracer.start_as_current_span("handle_request"):
        graph.invoke({"question": "q", "notes": []}, config={"callbacks": [CallbackHandler()]})
    assert trees(tel.spans) == [("handle_request", (FOUR_NODE_TREE,))]


def test_command_goto_is_the_nodes_route(tel: Captured) -> None:
    def decide(s: Items) -> Command[Any]:
        return Command(goto="finish", update={"items": ["decided"]})

    g: StateGraph[Any] = StateGraph(Items)
    g.add_node("decide", decide, destinations=("finish",))
    g.add_node("finish", lambda s: {"items": ["done"]})
    g.add_edge(START, "decide")
    g.add_edge("finish", END)
    graph = g.compile(name="cmd")
    graph.invoke({"items": []}, config={"callbacks": [CallbackHandler()]})
    assert trees(tel.spans) == [("invoke_workflow cmd", (leaf("decide"), leaf("finish")))]
    assert attr(one(tel.spans, "decide"), names.ROUTE_TO) == ("finish",)


@tool
def lookup_order(order_id: str) -> str:
    """Look an order up."""
    return f"order {order_id}: shipped"


@tool
def cancel_order(order_id: str) -> str:
    """Cancel an order."""
    raise RuntimeError("cancellation service down")


def test_tool_node_with_a_failing_tool(tel: Captured) -> None:
    calls = AIMessage(
        content="",
        tool_calls=[
            {"name": "lookup_order", "args": {"order_id": "42"}, "id": "call_1"},
            {"name": "cancel_order", "args": {"order_id": "42"}, "id": "call_2"},
        ],
    )
    llm = FakeChatModel(responses=[calls])

    def agent(s: dict[str, Any]) -> dict[str, Any]:
        return {"messages": [llm.invoke("cancel order 42")]}

    class Msgs(TypedDict):
        messages: Annotated[list[Any], operator.add]

    g: StateGraph[Any] = StateGraph(Msgs)
    g.add_node("agent", agent)
    g.add_node("tools", ToolNode([lookup_order, cancel_order], handle_tool_errors=True))
    g.add_edge(START, "agent")
    g.add_edge("agent", "tools")
    g.add_edge("tools", END)
    graph = g.compile(name="support")
    result = graph.invoke({"messages": []}, config={"callbacks": [CallbackHandler()]})
    tool_messages = [m for m in result["messages"] if isinstance(m, ToolMessage)]
    assert sorted(m.status for m in tool_messages) == ["error", "success"]

    (tree,) = trees(tel.spans)
    assert canonical(tree) == canonical(
        (
            "invoke_workflow support",
            (
                ("agent", (leaf(CHAT),)),
                ("tools", (leaf("execute_tool lookup_order"), leaf("execute_tool cancel_order"))),
            ),
        )
    )
    ok_tool = one(tel.spans, "execute_tool lookup_order")
    bad_tool = one(tel.spans, "execute_tool cancel_order")
    assert attr(ok_tool, names.GEN_AI_TOOL_CALL_ID) == "call_1"
    assert attr(ok_tool, names.GEN_AI_TOOL_DESCRIPTION) == "Look an order up."
    assert ok_tool.status.status_code == trace.StatusCode.UNSET
    assert bad_tool.status.status_code == trace.StatusCode.ERROR
    assert attr(bad_tool, names.ERROR_TYPE) == "RuntimeError"
    assert attr(one(tel.spans, "tools"), names.STAGE_OUTCOME) == "ok"  # the node handled the error
    assert attr(one(tel.spans, CHAT), names.TOOL_CALLS_NAMES) == ("lookup_order", "cancel_order")
    assert tel.sample("agentwatch_tool_calls_total", tool="cancel_order", outcome="error") == 1
    assert tel.sample("agentwatch_tool_calls_total", tool="lookup_order", outcome="ok") == 1
    assert parent_of(tel.spans, bad_tool) is one(tel.spans, "tools")


def test_functional_api_tasks_are_stages_inside_the_entrypoint(tel: Captured) -> None:
    from langgraph.func import entrypoint, task

    llm = FakeChatModel(responses=[ANSWER])

    @task
    def write(topic: str) -> str:
        return str(llm.invoke(f"write about {topic}").content)

    @task
    def grade(text: str) -> str:
        return str(llm.invoke(f"grade {text}").content)

    @entrypoint()
    def essay(topic: str) -> str:
        return grade(write(topic).result()).result()

    essay.invoke("cats", config={"callbacks": [CallbackHandler(graph_name="essay")]})
    assert trees(tel.spans) == [
        ("invoke_workflow essay", (("essay", (("write", (leaf(CHAT),)), ("grade", (leaf(CHAT),)))),))
    ]
    write_span = one(tel.spans, "write")
    assert attr(write_span, names.GRAPH_NAME) == "essay"
    assert attr(write_span, names.ROLLUP_INPUT_TOKENS) == 3
    assert attr(one(tel.spans, "essay"), names.ROLLUP_INPUT_TOKENS) == 3 + 1 + words(ANSWER)


@tool
def weather(city: str) -> str:
    """Weather for a city."""
    return f"sunny in {city}"


def test_prebuilt_react_agent_is_seven_spans(tel: Captured) -> None:
    import warnings

    from langgraph.prebuilt import create_react_agent

    llm = FakeChatModel(
        responses=[
            AIMessage(content="", tool_calls=[{"name": "weather", "args": {"city": "Oslo"}, "id": "c1"}]),
            "It is sunny in Oslo.",
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        agent = create_react_agent(llm, [weather])
    out = agent.invoke(
        {"messages": [("user", "weather in Oslo?")]}, config={"callbacks": [CallbackHandler()]}
    )
    assert out["messages"][-1].content == "It is sunny in Oslo."
    assert trees(tel.spans) == [
        (
            "invoke_workflow LangGraph",
            (("agent", (leaf(CHAT),)), ("tools", (leaf("execute_tool weather"),)), ("agent", (leaf(CHAT),))),
        )
    ]
    first, second = sorted(spans_named(tel.spans, "agent"), key=lambda s: s.start_time or 0)
    assert attr(first, names.ROUTE_TO) == ("tools",)
    assert attr(second, names.ROUTE_TO) == ("__end__",)
    assert [attr(s, names.GRAPH_STEP) for s in (first, second)] == [1, 3]
    assert attr(one(tel.spans, "execute_tool weather"), names.GEN_AI_TOOL_CALL_ID) == "c1"
