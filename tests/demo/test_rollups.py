"""Found by the demo: a model call inside a vector search (the query embedding) or inside a tool
must count in the enclosing stage's and workflow's rollup, as every other model call does."""

from __future__ import annotations

import pytest

import agentwatch
from agentwatch.testing import Captured


@agentwatch.track_embedding(provider="openai", model="text-embedding-3-small")
def embed(text: str) -> dict[str, object]:
    return {
        "object": "list",
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 1000, "total_tokens": 1000},
    }


@agentwatch.track_vector_search(db="in_memory", collection="jobs", top_k=2)
def search(query: str) -> list[dict[str, object]]:
    embed(query)
    return [{"id": "a", "score": 0.9}, {"id": "b", "score": 0.5}]


@agentwatch.track_inference(provider="openai", model="gpt-4o")
def chat() -> dict[str, object]:
    return {"model": "gpt-4o-2024-08-06", "usage": {"prompt_tokens": 2000, "completion_tokens": 100}}


@agentwatch.track_tool(name="summarise")
def tool() -> None:
    chat()


def test_calls_inside_searches_and_tools_roll_up_to_the_stage(tel: Captured) -> None:
    with agentwatch.stage("outer"), agentwatch.stage("match"):
        search("python")
        tool()
    embedding = 1000 * 0.02 / 1e6
    chat_cost = (2000 * 2.50 + 100 * 10.0) / 1e6
    for name in ("match", "outer"):
        attrs = tel.span(name).attributes or {}
        assert attrs["agentwatch.rollup.llm_calls"] == 2
        assert attrs["agentwatch.rollup.input_tokens"] == 3000
        assert attrs["agentwatch.rollup.output_tokens"] == 100
        assert attrs["agentwatch.rollup.cost.usd"] == pytest.approx(embedding + chat_cost, abs=1e-12)
