"""chat.completions.create / parse, not streamed: exact attributes, usage, cost and metrics."""

from __future__ import annotations

import json

import openai
import pydantic
import pytest
from oa_helpers import attrs, calls, cost, n, prompt_tokens
from openai.types.chat import ChatCompletion, ParsedChatCompletion

from agentwatch.fake_provider import FakeProvider
from agentwatch.testing import Captured

USER = [{"role": "user", "content": "Analyse this job posting: senior Python engineer, PostgreSQL, AWS"}]


def test_plain_call(client: openai.OpenAI, fp: FakeProvider, tel: Captured) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=USER,
        temperature=0.2,
        top_p=0.9,
        max_tokens=400,
        seed=7,
        stop=["\n\n\n"],
    )
    assert type(completion) is ChatCompletion
    span = tel.span("chat gpt-4o-mini")
    a = attrs(span)
    text = completion.choices[0].message.content or ""
    expected_in, expected_out = prompt_tokens(USER), n(text)
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (expected_in, expected_out)
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "gpt-4o-mini"
    assert a["gen_ai.request.temperature"] == 0.2
    assert a["gen_ai.request.top_p"] == 0.9
    assert a["gen_ai.request.max_tokens"] == 400
    assert a["gen_ai.request.seed"] == 7
    assert a["gen_ai.request.stop_sequences"] == ("\n\n\n",)
    assert a["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert a["gen_ai.response.id"] == completion.id
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["gen_ai.usage.input_tokens"] == expected_in
    assert a["gen_ai.usage.output_tokens"] == expected_out
    assert a["agentwatch.usage.estimated"] is False
    assert a["agentwatch.cost.usd"] == pytest.approx(cost("gpt-4o-mini", expected_in, expected_out), rel=1e-9)
    assert a["server.address"] == "127.0.0.1"
    assert a["server.port"] == fp.port
    assert "gen_ai.request.stream" not in a
    assert "agentwatch.attempts" not in a  # no retry
    assert not any(key.startswith("http.response.header.") for key in a)  # only after retries or errors
    assert span.kind.name == "CLIENT"
    assert calls(tel, "gpt-4o-mini", "ok") == 1
    assert (
        tel.sample(
            "agentwatch_llm_tokens_total",
            provider="openai",
            model="gpt-4o-mini",
            operation="chat",
            type="input",
        )
        == expected_in
    )
    assert tel.sample(
        "agentwatch_llm_cost_usd_total", provider="openai", model="gpt-4o-mini", operation="chat"
    ) == pytest.approx(cost("gpt-4o-mini", expected_in, expected_out))


def test_repeated_system_prompt_is_priced_as_cached(client: openai.OpenAI, tel: Captured) -> None:
    system = {
        "role": "system",
        "content": "You are an exacting career coach. Explain every suggestion. " * 110,
    }
    prefix = prompt_tokens([system])
    assert prefix >= 1024
    for question in ("Rate my CV", "Rate my cover letter"):
        client.chat.completions.create(
            model="gpt-4o", messages=[system, {"role": "user", "content": question}]
        )
    first, second = (attrs(s) for s in tel.spans_named("chat gpt-4o"))
    assert "gen_ai.usage.cache_read.input_tokens" not in first
    cached = prefix // 128 * 128
    assert second["gen_ai.usage.cache_read.input_tokens"] == cached
    total_in = prompt_tokens([system, {"role": "user", "content": "Rate my cover letter"}])
    assert second["gen_ai.usage.input_tokens"] == total_in
    out = second["gen_ai.usage.output_tokens"]
    assert second["agentwatch.cost.usd"] == pytest.approx(
        cost("gpt-4o", total_in, out, cached=cached), rel=1e-9
    )
    assert second["agentwatch.cost.input_usd"] == pytest.approx(
        ((total_in - cached) * 2.50 + cached * 1.25) / 1e6, rel=1e-9
    )
    assert (
        tel.sample(
            "agentwatch_llm_tokens_total",
            provider="openai",
            model="gpt-4o",
            operation="chat",
            type="cache_read",
        )
        == cached
    )


def test_reasoning_tokens(client: openai.OpenAI, tel: Captured) -> None:
    messages = [{"role": "user", "content": "Write a cover letter for this role"}]
    completion = client.chat.completions.create(model="o4-mini", messages=messages, reasoning_effort="low")
    a = attrs(tel.span("chat o4-mini"))
    out = 64 + n(completion.choices[0].message.content or "")
    assert a["gen_ai.usage.reasoning.output_tokens"] == 64
    assert a["gen_ai.usage.output_tokens"] == out
    assert a["agentwatch.cost.usd"] == pytest.approx(cost("o4-mini", prompt_tokens(messages), out), rel=1e-9)
    assert (
        tel.sample(
            "agentwatch_llm_tokens_total",
            provider="openai",
            model="o4-mini",
            operation="chat",
            type="reasoning",
        )
        == 64
    )


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "search_jobs",
            "description": "Search job postings",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
        },
    },
    {
        "type": "function",
        "function": {"name": "get_profile", "parameters": {"type": "object", "properties": {}}},
    },
]


def test_tool_calls(client: openai.OpenAI, tel: Captured) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "search jobs for me"}], tools=TOOLS
    )
    call = completion.choices[0].message.tool_calls[0]
    a = attrs(tel.span("chat gpt-4o"))
    assert a["agentwatch.tool_calls.count"] == 1
    assert a["agentwatch.tool_calls.names"] == ("search_jobs",)
    assert a["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert a["gen_ai.usage.output_tokens"] == n(call.function.name + call.function.arguments)
    tools_json = json.dumps(TOOLS, sort_keys=True, separators=(",", ":"))
    assert a["gen_ai.usage.input_tokens"] == prompt_tokens(
        [{"role": "user", "content": "search jobs for me"}]
    ) + n(tools_json)


class Skills(pydantic.BaseModel):
    skills: list[str]
    seniority: str


def test_parse(client: openai.OpenAI, tel: Captured) -> None:
    parsed = client.chat.completions.parse(model="gpt-4o-mini", messages=USER, response_format=Skills)
    assert isinstance(parsed, ParsedChatCompletion)
    assert parsed.choices[0].message.parsed == Skills(
        skills=["Python", "PostgreSQL", "AWS"], seniority="Senior"
    )
    a = attrs(tel.span("chat gpt-4o-mini"))
    assert a["gen_ai.output.type"] == "json"
    assert a["gen_ai.usage.output_tokens"] == n(parsed.choices[0].message.content or "")
    assert a["gen_ai.usage.input_tokens"] == prompt_tokens(USER)


def test_raw_response_is_read_when_parsed(client: openai.OpenAI, tel: Captured) -> None:
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=USER)
    assert raw.headers["x-request-id"].startswith("req_")
    assert tel.spans_named("chat gpt-4o-mini") == []  # read when parsed
    completion = raw.parse()
    assert type(completion) is ChatCompletion
    a = attrs(tel.span("chat gpt-4o-mini"))
    assert a["gen_ai.usage.output_tokens"] == completion.usage.completion_tokens


def test_copies_and_other_clients(client: openai.OpenAI, fp: FakeProvider, tel: Captured) -> None:
    client.with_options(timeout=30).chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert len(tel.spans_named("chat gpt-4o-mini")) == 1
    bare = openai.OpenAI(base_url=fp.openai_base_url, api_key="sk-other")
    bare.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert len(tel.spans_named("chat gpt-4o-mini")) == 1  # the other client is not instrumented
    bare.close()


def test_before_configure_nothing_is_recorded(fp: FakeProvider) -> None:
    import agentwatch_openai

    client = agentwatch_openai.instrument(openai.OpenAI(base_url=fp.openai_base_url, api_key="k"))
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert completion.choices[0].finish_reason == "stop"
    agentwatch_openai.uninstrument(client)
