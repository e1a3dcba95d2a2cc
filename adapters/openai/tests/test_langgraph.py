"""An OpenAI call made inside a LangGraph node traced by the LangGraph handler appears once, under
the node's span, and its cost rolls up to the node and the graph."""

from __future__ import annotations

from typing import Any, TypedDict

import openai
import pytest
from oa_helpers import attrs

from agentwatch.testing import Captured

langgraph = pytest.importorskip("langgraph.graph")
agentwatch_langgraph = pytest.importorskip("agentwatch_langgraph")


class State(TypedDict):
    posting: str
    skills: str


def test_call_in_a_node_nests_under_it(client: openai.OpenAI, tel: Captured) -> None:
    def analyze_job(state: State) -> dict[str, str]:
        completion = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": f"Extract skills: {state['posting']}"}]
        )
        return {"skills": completion.choices[0].message.content or ""}

    builder = langgraph.StateGraph(State)
    builder.add_node("analyze_job", analyze_job)
    builder.add_edge(langgraph.START, "analyze_job")
    builder.add_edge("analyze_job", langgraph.END)
    graph = builder.compile()
    graph.invoke(
        {"posting": "Senior Python engineer", "skills": ""},
        config={"callbacks": [agentwatch_langgraph.CallbackHandler()]},
    )

    chat = tel.span("chat gpt-4o-mini")  # exactly one
    node = tel.span("analyze_job")
    workflow = next(s for s in tel.spans if s.name.startswith("invoke_workflow"))
    assert chat.parent is not None and chat.parent.span_id == node.context.span_id
    assert node.parent is not None and node.parent.span_id == workflow.context.span_id
    assert len({s.context.trace_id for s in tel.spans}) == 1
    cost = attrs(chat)["agentwatch.cost.usd"]
    assert attrs(node)["agentwatch.rollup.cost.usd"] == pytest.approx(cost)
    assert attrs(node)["agentwatch.rollup.llm_calls"] == 1
    assert attrs(workflow)["agentwatch.rollup.input_tokens"] == attrs(chat)["gen_ai.usage.input_tokens"]


def test_langchain_model_over_an_instrumented_client_is_one_span(fp: Any, tel: Captured) -> None:
    """ChatOpenAI calls the SDK (through ``with_raw_response``); with the client instrumented too,
    the model call is still one span, under the node, counted once."""
    chat_models = pytest.importorskip("langchain_openai")
    import agentwatch_openai

    instrumentor = agentwatch_openai.OpenAIInstrumentor()
    instrumentor.instrument()
    try:
        llm = chat_models.ChatOpenAI(
            model="gpt-4o-mini", base_url=fp.openai_base_url, api_key="sk-x", stream_usage=True
        )

        def ask(state: State) -> dict[str, str]:
            return {"skills": str(llm.invoke(f"Extract skills: {state['posting']}").content)}

        def ask_streamed(state: State) -> dict[str, str]:
            return {"skills": "".join(str(c.content) for c in llm.stream("Extract skills again"))}

        builder = langgraph.StateGraph(State)
        builder.add_node("ask", ask)
        builder.add_node("ask_streamed", ask_streamed)
        builder.add_edge(langgraph.START, "ask")
        builder.add_edge("ask", "ask_streamed")
        builder.add_edge("ask_streamed", langgraph.END)
        builder.compile().invoke(
            {"posting": "Senior Python engineer", "skills": ""},
            config={"callbacks": [agentwatch_langgraph.CallbackHandler()]},
        )
    finally:
        instrumentor.uninstrument()
    chats = [s for s in tel.spans if s.name.startswith("chat ")]
    assert len(chats) == 2
    by_parent = {tel_parent_name(tel, s): attrs(s) for s in chats}
    assert set(by_parent) == {"ask", "ask_streamed"}
    for a in by_parent.values():
        assert a["gen_ai.usage.output_tokens"] > 0
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


def tel_parent_name(tel: Captured, span: Any) -> str:
    parent = next(
        s for s in tel.spans if span.parent is not None and s.context.span_id == span.parent.span_id
    )
    return parent.name
