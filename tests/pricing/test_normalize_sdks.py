"""Real SDK objects from real HTTP calls (the bundled fake provider on 127.0.0.1), normalised and priced.

Expected values are read from the raw JSON on the wire and the published prices, independently of
the normaliser.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

import agentwatch
from agentwatch import Usage
from agentwatch.fake_provider import FakeProvider
from agentwatch.normalize import AnthropicStreamUsage, usage_from_any

openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")

M = Decimal(1_000_000)
LONG_SYSTEM = "You are a meticulous career coach who explains every recommendation. " * 120
GUIDE = "Rewrite every bullet with an action verb, a scope and a measurable result. " * 90
RULES = "Never invent employers or dates. " * 40
CACHED_SYSTEM = [
    {"type": "text", "text": GUIDE, "cache_control": {"type": "ephemeral", "ttl": "1h"}},
    {"type": "text", "text": RULES, "cache_control": {"type": "ephemeral"}},
]


@pytest.fixture
def fp() -> Iterator[FakeProvider]:
    with FakeProvider(seed=3) as provider:
        yield provider


def _anthropic(fp: FakeProvider) -> Any:
    return anthropic.Anthropic(base_url=fp.anthropic_base_url, api_key="sk-ant-test", max_retries=0,
                               default_headers={"anthropic-version": "2023-06-01"})


def test_openai_chat_cached_prompt(fp: FakeProvider) -> None:
    client = openai.OpenAI(base_url=fp.openai_base_url, api_key="sk-test", max_retries=0)
    messages = [{"role": "system", "content": LONG_SYSTEM}, {"role": "user", "content": "first"}]
    client.chat.completions.create(model="gpt-4o", messages=messages)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[messages[0], {"role": "user", "content": "second"}])
    wire = raw.http_response.json()["usage"]
    completion = raw.parse()
    usage = usage_from_any(completion)
    cached = wire["prompt_tokens_details"]["cached_tokens"]
    assert cached > 0
    assert usage == Usage(input_tokens=wire["prompt_tokens"], output_tokens=wire["completion_tokens"],
                          cache_read_tokens=cached)
    cost = agentwatch.estimate_cost("openai", completion.model, usage)
    assert cost is not None
    assert cost.total_usd == ((wire["prompt_tokens"] - cached) * Decimal("2.50") + cached * Decimal("1.25")
                              + wire["completion_tokens"] * Decimal("10")) / M


def test_openai_stream_usage_chunk_and_responses_api(fp: FakeProvider) -> None:
    client = openai.OpenAI(base_url=fp.openai_base_url, api_key="sk-test", max_retries=0)
    msgs = [{"role": "user", "content": "Summarise this posting"}]
    plain = client.chat.completions.create(model="gpt-4o-mini", messages=msgs)
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=msgs, stream=True,
                                                 stream_options={"include_usage": True}))
    with_usage = [c for c in chunks if c.usage is not None]
    assert len(with_usage) == 1 and with_usage[0].choices == []
    assert usage_from_any(with_usage[0]) == usage_from_any(plain)

    raw = client.responses.with_raw_response.create(model="gpt-5", input="Write a cover letter")
    wire = raw.http_response.json()["usage"]
    response = raw.parse()
    expected = Usage(input_tokens=wire["input_tokens"], output_tokens=wire["output_tokens"],
                     cache_read_tokens=wire["input_tokens_details"]["cached_tokens"],
                     cache_write_tokens=wire["input_tokens_details"]["cache_write_tokens"],
                     reasoning_tokens=wire["output_tokens_details"]["reasoning_tokens"])
    assert expected.reasoning_tokens > 0
    assert usage_from_any(response) == expected
    events = list(client.responses.create(model="gpt-5", input="Write a cover letter", stream=True))
    assert events[-1].type == "response.completed"
    assert usage_from_any(events[-1]).output_tokens == expected.output_tokens  # type: ignore[union-attr]

    embedded = client.embeddings.create(model="text-embedding-3-small", input=["a b c", "d e"])
    assert usage_from_any(embedded) == Usage(input_tokens=embedded.usage.prompt_tokens)


def test_anthropic_cache_write_then_read_priced_with_both_ttls(fp: FakeProvider) -> None:
    client = _anthropic(fp)
    first_raw = client.messages.with_raw_response.create(
        model="claude-haiku-4-5", max_tokens=300, system=CACHED_SYSTEM,
        messages=[{"role": "user", "content": "one"}])
    wire = first_raw.http_response.json()["usage"]
    first = first_raw.parse()
    w1h = wire["cache_creation"]["ephemeral_1h_input_tokens"]
    w5m = wire["cache_creation"]["ephemeral_5m_input_tokens"]
    assert w1h > 0 and w5m > 0
    usage = usage_from_any(first)
    assert usage == Usage(input_tokens=wire["input_tokens"] + wire["cache_creation_input_tokens"],
                          output_tokens=wire["output_tokens"], cache_write_tokens=w1h + w5m,
                          cache_write_1h_tokens=w1h)
    cost = agentwatch.estimate_cost("anthropic", first.model, usage)
    assert cost is not None
    # claude-haiku-4-5: $1 input, $1.25 5m write, $2 1h write, $5 output
    assert cost.input_usd == (wire["input_tokens"] * 1 + w5m * Decimal("1.25") + w1h * 2) / M
    assert cost.output_usd == wire["output_tokens"] * 5 / M

    second = client.messages.create(model="claude-haiku-4-5", max_tokens=300, system=CACHED_SYSTEM,
                                    messages=[{"role": "user", "content": "two"}])
    read = second.usage.cache_read_input_tokens
    assert read == w1h + w5m
    assert usage_from_any(second) == Usage(input_tokens=second.usage.input_tokens + read,
                                           output_tokens=second.usage.output_tokens, cache_read_tokens=read)


def test_anthropic_stream_events_match_the_sdk_final_message(fp: FakeProvider) -> None:
    client = _anthropic(fp)
    acc = AnthropicStreamUsage()
    with client.messages.stream(model="claude-haiku-4-5", max_tokens=2000, system=CACHED_SYSTEM,
                                thinking={"type": "enabled", "budget_tokens": 1024},
                                messages=[{"role": "user", "content": "Draft a cover letter"}]) as stream:
        for event in stream:
            acc.feed(event)
        final = stream.get_final_message()
    u = final.usage
    got = acc.usage()
    assert got is not None
    assert got.input_tokens == u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens
    assert got.output_tokens == u.output_tokens and got.output_tokens > 1
    assert (got.cache_read_tokens, got.cache_write_tokens) == (u.cache_read_input_tokens,
                                                               u.cache_creation_input_tokens)
    assert got.cache_write_1h_tokens == u.cache_creation.ephemeral_1h_input_tokens  # from message_start
    assert got.reasoning_tokens == u.output_tokens_details.thinking_tokens > 0
    assert usage_from_any(final) == got
