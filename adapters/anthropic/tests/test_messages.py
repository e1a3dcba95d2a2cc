"""messages.create / parse, not streamed: usage with the prompt cache (5m / 1h writes, reads),
thinking tokens, tool use, exact cost."""

from __future__ import annotations

import anthropic
import pytest
from an_helpers import attrs, calls, cost, n, prompt_tokens
from anthropic.types import Message

from agentwatch.fake_provider import FakeProvider
from agentwatch.testing import Captured

ASK = [{"role": "user", "content": "Optimise my resume for a platform engineering role"}]
GUIDE = "Rewrite each bullet with an action verb, the scope and a measurable result. " * 80
RULES = "Never invent employers, dates or numbers that the candidate did not give. " * 40


def test_plain_message(client: anthropic.Anthropic, fp: FakeProvider, tel: Captured) -> None:
    message = client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=1000,
        messages=ASK,
        system="You edit resumes.",
        stop_sequences=["###"],
    )
    assert type(message) is Message
    span = tel.span("chat claude-haiku-4-5")
    a = attrs(span)
    expected_in, expected_out = prompt_tokens(ASK, "You edit resumes."), n(message.content[0].text)
    assert (message.usage.input_tokens, message.usage.output_tokens) == (expected_in, expected_out)
    assert a["gen_ai.provider.name"] == "anthropic"
    assert a["gen_ai.request.max_tokens"] == 1000
    assert a["gen_ai.request.stop_sequences"] == ("###",)
    assert a["gen_ai.response.model"] == "claude-haiku-4-5-20251001"
    assert a["gen_ai.response.id"] == message.id
    assert a["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (expected_in, expected_out)
    assert a["agentwatch.cost.usd"] == pytest.approx(
        cost("claude-haiku-4-5", expected_in, expected_out), rel=1e-9
    )
    assert a["server.port"] == fp.port
    assert not any(key.startswith("http.response.header.") for key in a)  # only after retries or errors
    assert calls(tel, "claude-haiku-4-5") == 1


def test_prompt_cache_write_then_read(client: anthropic.Anthropic, tel: Captured) -> None:
    system = [
        {"type": "text", "text": GUIDE, "cache_control": {"type": "ephemeral", "ttl": "1h"}},
        {"type": "text", "text": RULES, "cache_control": {"type": "ephemeral"}},
    ]
    first = client.messages.create(model="claude-sonnet-4-6", max_tokens=800, system=system, messages=ASK)
    second = client.messages.create(model="claude-sonnet-4-6", max_tokens=800, system=system, messages=ASK)
    write_1h, write_5m = 3 + n(GUIDE), n(RULES)
    uncached = 3 + n(ASK[0]["content"])
    assert first.usage.cache_creation.ephemeral_1h_input_tokens == write_1h
    a1, a2 = (attrs(s) for s in tel.spans_named("chat claude-sonnet-4-6"))
    # input_tokens on the span includes the cache (semconv), unlike Anthropic's own field
    assert a1["gen_ai.usage.input_tokens"] == uncached + write_1h + write_5m
    assert a1["gen_ai.usage.cache_creation.input_tokens"] == write_1h + write_5m
    assert "gen_ai.usage.cache_read.input_tokens" not in a1
    out1 = first.usage.output_tokens
    assert a1["agentwatch.cost.usd"] == pytest.approx(
        cost("claude-sonnet-4-6", uncached, out1, write_5m=write_5m, write_1h=write_1h), rel=1e-9
    )
    assert (
        a2["gen_ai.usage.cache_read.input_tokens"]
        == write_1h + write_5m
        == second.usage.cache_read_input_tokens
    )
    assert a2["gen_ai.usage.input_tokens"] == uncached + write_1h + write_5m
    out2 = second.usage.output_tokens
    assert a2["agentwatch.cost.usd"] == pytest.approx(
        cost("claude-sonnet-4-6", uncached, out2, read=write_1h + write_5m), rel=1e-9
    )
    for kind, value in (("cache_write", write_1h + write_5m), ("cache_read", write_1h + write_5m)):
        assert (
            tel.sample(
                "agentwatch_llm_tokens_total",
                provider="anthropic",
                model="claude-sonnet-4-6",
                operation="chat",
                type=kind,
            )
            == value
        )


def test_extended_thinking(client: anthropic.Anthropic, tel: Captured) -> None:
    message = client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=4000,
        thinking={"type": "enabled", "budget_tokens": 2000},
        messages=ASK,
    )
    thinking, text = message.content[0].thinking, message.content[1].text
    a = attrs(tel.span("chat claude-haiku-4-5"))
    assert (
        a["gen_ai.usage.reasoning.output_tokens"]
        == n(thinking)
        == message.usage.output_tokens_details.thinking_tokens
    )
    assert a["gen_ai.usage.output_tokens"] == n(thinking) + n(text)
    assert a["agentwatch.cost.usd"] == pytest.approx(
        cost("claude-haiku-4-5", prompt_tokens(ASK), n(thinking) + n(text)), rel=1e-9
    )


TOOLS = [
    {
        "name": "get_profile",
        "description": "Load the candidate profile",
        "input_schema": {"type": "object", "properties": {"user_id": {"type": "string"}}},
    },
    {"name": "search_jobs", "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}}},
]


def test_tool_use(client: anthropic.Anthropic, tel: Captured) -> None:
    message = client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=500,
        tools=TOOLS,
        messages=[{"role": "user", "content": "search jobs that fit me"}],
    )
    assert message.stop_reason == "tool_use"
    a = attrs(tel.span("chat claude-haiku-4-5"))
    assert a["agentwatch.tool_calls.count"] == 1
    assert a["agentwatch.tool_calls.names"] == ("search_jobs",)
    assert a["gen_ai.response.finish_reasons"] == ("tool_use",)
    assert a["gen_ai.usage.output_tokens"] == message.usage.output_tokens


def test_beta_messages_and_copies(client: anthropic.Anthropic, fp: FakeProvider, tel: Captured) -> None:
    client.beta.messages.create(model="claude-haiku-4-5", max_tokens=200, messages=ASK)
    client.with_options(timeout=20).messages.create(model="claude-haiku-4-5", max_tokens=200, messages=ASK)
    bare = anthropic.Anthropic(base_url=fp.anthropic_base_url, api_key="k")
    bare.messages.create(model="claude-haiku-4-5", max_tokens=200, messages=ASK)
    assert len(tel.spans_named("chat claude-haiku-4-5")) == 2
    bare.close()


def test_async_client(aclient: anthropic.AsyncAnthropic, tel: Captured) -> None:
    import asyncio

    async def run() -> list[int]:
        messages = await asyncio.gather(
            *[
                aclient.messages.create(
                    model="claude-haiku-4-5",
                    max_tokens=300,
                    messages=[{"role": "user", "content": f"question {i}"}],
                )
                for i in range(10)
            ]
        )
        return [m.usage.output_tokens for m in messages]

    outputs = asyncio.run(run())
    spans = tel.spans_named("chat claude-haiku-4-5")
    assert sorted(attrs(s)["gen_ai.usage.output_tokens"] for s in spans) == sorted(outputs)
    assert calls(tel, "claude-haiku-4-5") == 10
