"""An OpenAI call made inside a LangGraph node traced by the LangGraph handler appears once, under
the node's span, and its cost rolls up to the node and the graph."""

from __future__ import annotations

from typing import TypedDict

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
