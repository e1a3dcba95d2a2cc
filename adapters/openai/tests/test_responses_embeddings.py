"""responses.create / parse and embeddings.create, not streamed."""

from __future__ import annotations

import openai
import pydantic
import pytest
from oa_helpers import CL100K, attrs, calls, cost, n

from agentwatch.testing import Captured


def test_responses_create(client: openai.OpenAI, tel: Captured) -> None:
    response = client.responses.create(
        model="o4-mini",
        input="Summarise the posting",
        instructions="Be concise",
        max_output_tokens=2000,
        temperature=1.0,
    )
    a = attrs(tel.span("chat o4-mini"))
    expected_in = 3 + (3 + n("system") + n("Be concise")) + (3 + n("user") + n("Summarise the posting"))
    expected_out = 192 + n(response.output_text)
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (expected_in, expected_out)
    assert a["gen_ai.usage.reasoning.output_tokens"] == 192
    assert a["gen_ai.request.max_tokens"] == 2000
    assert a["gen_ai.response.model"] == "o4-mini-2025-04-16"
    assert a["gen_ai.response.finish_reasons"] == ("completed",)
    assert a["agentwatch.cost.usd"] == pytest.approx(cost("o4-mini", expected_in, expected_out), rel=1e-9)


def test_responses_truncated_and_tool_call(client: openai.OpenAI, tel: Captured) -> None:
    client.responses.create(model="gpt-4o", input="Write a cover letter", max_output_tokens=16)
    assert attrs(tel.span("chat gpt-4o"))["gen_ai.response.finish_reasons"] == ("max_output_tokens",)
    tel.clear()
    tools = [{"type": "function", "name": "search_jobs", "parameters": {"type": "object", "properties": {}}}]
    response = client.responses.create(model="gpt-4o", input="search jobs", tools=tools)
    assert response.output[0].type == "function_call"
    a = attrs(tel.span("chat gpt-4o"))
    assert a["agentwatch.tool_calls.names"] == ("search_jobs",)


class Match(pydantic.BaseModel):
    score: float
    summary: str


def test_responses_parse(client: openai.OpenAI, tel: Captured) -> None:
    parsed = client.responses.parse(model="gpt-4o-mini", input="How well do I match?", text_format=Match)
    assert parsed.output_parsed == Match(score=0.82, summary=parsed.output_parsed.summary)
    a = attrs(tel.span("chat gpt-4o-mini"))
    assert a["gen_ai.output.type"] == "json"
    assert a["gen_ai.usage.output_tokens"] == parsed.usage.output_tokens


def test_embeddings(client: openai.OpenAI, tel: Captured) -> None:
    texts = ["senior python engineer", "PostgreSQL performance tuning"]
    result = client.embeddings.create(model="text-embedding-3-small", input=texts, dimensions=256)
    assert [len(d.embedding) for d in result.data] == [256, 256]
    a = attrs(tel.span("embeddings text-embedding-3-small"))
    tokens = sum(n(t, CL100K) for t in texts)
    assert a["gen_ai.operation.name"] == "embeddings"
    assert a["gen_ai.usage.input_tokens"] == tokens
    assert a["gen_ai.usage.output_tokens"] == 0
    assert a["gen_ai.embeddings.dimension.count"] == 256
    assert a["agentwatch.cost.usd"] == pytest.approx(tokens * 0.02 / 1e6, rel=1e-9)
    assert calls(tel, "text-embedding-3-small", "ok", "embeddings") == 1
    tel.clear()
    client.embeddings.create(model="text-embedding-3-small", input="one text")  # base64 by default
    assert attrs(tel.span("embeddings text-embedding-3-small"))["gen_ai.embeddings.dimension.count"] == 1536
