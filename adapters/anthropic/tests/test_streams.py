"""Streams: raw ``stream=True`` and the ``messages.stream()`` helper, sync and async; cumulative
usage, time to first chunk, early exits and cut streams."""

from __future__ import annotations

import asyncio

import anthropic
import pytest
from an_helpers import attrs, calls, cost, n, prompt_tokens

from agentwatch.fake_provider import Failure, FakeProvider
from agentwatch.testing import Captured

ASK = [{"role": "user", "content": "Write a cover letter for a staff engineer role"}]


def test_raw_stream(client: anthropic.Anthropic, tel: Captured) -> None:
    stream = client.messages.create(model="claude-haiku-4-5", max_tokens=1000, messages=ASK, stream=True)
    assert isinstance(stream, anthropic.Stream)
    events = list(stream)
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta")
    assert events[0].message.usage.output_tokens == 1  # message_start: not the final count
    span = tel.span("chat claude-haiku-4-5")
    a = attrs(span)
    assert a["gen_ai.usage.output_tokens"] == n(text) == events[-2].usage.output_tokens
    assert a["gen_ai.usage.input_tokens"] == prompt_tokens(ASK)
    assert a["agentwatch.usage.estimated"] is False
    assert a["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert a["gen_ai.request.stream"] is True
    assert 0 < a["gen_ai.response.time_to_first_chunk"] <= (span.end_time - span.start_time) / 1e9
    assert a["agentwatch.cost.usd"] == pytest.approx(
        cost("claude-haiku-4-5", prompt_tokens(ASK), n(text)), rel=1e-9
    )


def test_stream_helper_with_thinking_and_cache(client: anthropic.Anthropic, tel: Captured) -> None:
    system = [
        {
            "type": "text",
            "text": "You write concise, specific cover letters. " * 160,
            "cache_control": {"type": "ephemeral"},
        }
    ]
    client.messages.create(model="claude-haiku-4-5", max_tokens=500, system=system, messages=ASK)
    with client.messages.stream(
        model="claude-haiku-4-5",
        max_tokens=4000,
        system=system,
        messages=ASK,
        thinking={"type": "enabled", "budget_tokens": 1500},
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert final.content[1].text == text
    _, streamed = (attrs(s) for s in tel.spans_named("chat claude-haiku-4-5"))
    thinking = n(final.content[0].thinking)
    assert streamed["gen_ai.usage.reasoning.output_tokens"] == thinking
    assert streamed["gen_ai.usage.output_tokens"] == final.usage.output_tokens == thinking + n(text)
    assert streamed["gen_ai.usage.cache_read.input_tokens"] == final.usage.cache_read_input_tokens > 1024
    assert (
        streamed["gen_ai.usage.input_tokens"]
        == final.usage.input_tokens + final.usage.cache_read_input_tokens
    )
    assert streamed["gen_ai.request.stream"] is True
    assert streamed["gen_ai.response.time_to_first_chunk"] > 0
    assert streamed["agentwatch.usage.estimated"] is False


def test_stream_helper_left_early(client: anthropic.Anthropic, tel: Captured) -> None:
    with client.messages.stream(model="claude-haiku-4-5", max_tokens=1000, messages=ASK) as stream:
        first = next(iter(stream.text_stream))
        assert tel.spans_named("chat claude-haiku-4-5") == []
    a = attrs(tel.span("chat claude-haiku-4-5"))
    assert a["gen_ai.usage.input_tokens"] == prompt_tokens(ASK)  # reported by message_start
    assert a["gen_ai.usage.output_tokens"] == n(first)  # counted from what arrived
    assert a["agentwatch.usage.estimated"] is True
    assert calls(tel, "claude-haiku-4-5", "interrupted") == 1


def test_stream_tool_use(client: anthropic.Anthropic, tel: Captured) -> None:
    tools = [
        {"name": "get_profile", "input_schema": {"type": "object", "properties": {"id": {"type": "string"}}}}
    ]
    with client.messages.stream(
        model="claude-haiku-4-5",
        max_tokens=500,
        tools=tools,
        messages=[{"role": "user", "content": "load my profile"}],
    ) as stream:
        final = stream.get_final_message()
    a = attrs(tel.span("chat claude-haiku-4-5"))
    assert a["agentwatch.tool_calls.names"] == ("get_profile",)
    assert a["gen_ai.usage.output_tokens"] == final.usage.output_tokens


def test_cut_stream(client: anthropic.Anthropic, fp: FakeProvider, tel: Captured) -> None:
    fp.fail_next(Failure(kind="cut", after_events=5, path="messages"))
    with (
        pytest.raises(Exception) as info,
        client.messages.stream(
            model="claude-haiku-4-5", max_tokens=1000, messages=ASK
        ) as stream,
    ):
        for _ in stream:
            pass
    error_type = type(info.value).__qualname__
    # Older SDK releases let the HTTP library's error through; newer ones wrap it. Either way the
    # span names the error the caller saw.
    assert error_type in ("RemoteProtocolError", "APIConnectionError")
    span = tel.span("chat claude-haiku-4-5")
    a = attrs(span)
    assert span.status.status_code.name == "ERROR"
    assert a["error.type"] == error_type
    assert a["agentwatch.usage.estimated"] is True
    assert a["gen_ai.usage.input_tokens"] == prompt_tokens(ASK)
    assert (
        tel.sample(
            "agentwatch_llm_errors_total",
            provider="anthropic",
            model="claude-haiku-4-5",
            error_type=error_type,
        )
        == 1
    )


def test_async_streams(aclient: anthropic.AsyncAnthropic, tel: Captured) -> None:
    async def run() -> tuple[str, int]:
        stream = await aclient.messages.create(
            model="claude-haiku-4-5", max_tokens=800, messages=ASK, stream=True
        )
        assert isinstance(stream, anthropic.AsyncStream)
        text = "".join([e.delta.text async for e in stream if e.type == "content_block_delta"])
        async with aclient.messages.stream(model="claude-haiku-4-5", max_tokens=800, messages=ASK) as helper:
            final = await helper.get_final_message()
        return text, final.usage.output_tokens

    text, helper_out = asyncio.run(run())
    raw, helper = (attrs(s) for s in tel.spans_named("chat claude-haiku-4-5"))
    assert raw["gen_ai.usage.output_tokens"] == n(text)
    assert helper["gen_ai.usage.output_tokens"] == helper_out
    assert helper["gen_ai.response.time_to_first_chunk"] > 0
    assert calls(tel, "claude-haiku-4-5") == 2
