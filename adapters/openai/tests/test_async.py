"""The async client: the same records, and concurrent calls each get their own span."""

from __future__ import annotations

import asyncio

import openai
import pytest
from oa_helpers import attrs, calls, n, prompt_tokens

from agentwatch.fake_provider import Failure, FakeProvider
from agentwatch.testing import Captured

USER = [{"role": "user", "content": "Rewrite my resume bullets"}]


def test_async_apis(aclient: openai.AsyncOpenAI, fp: FakeProvider, tel: Captured) -> None:
    async def run() -> str:
        completion = await aclient.chat.completions.create(model="gpt-4o-mini", messages=USER)
        assert completion.usage.prompt_tokens == prompt_tokens(USER)
        stream = await aclient.chat.completions.create(
            model="gpt-4o-mini", messages=USER, stream=True, stream_options={"include_usage": True}
        )
        assert isinstance(stream, openai.AsyncStream)
        chunks = [chunk async for chunk in stream]
        assert chunks[-1].usage.completion_tokens == completion.usage.completion_tokens
        async with aclient.chat.completions.stream(model="gpt-4o", messages=USER) as helper:
            final = await helper.get_final_completion()
        assert final.choices[0].message.content
        await aclient.responses.create(model="gpt-4o", input="hi")
        await aclient.embeddings.create(model="text-embedding-3-small", input="hi")
        await aclient.chat.completions.parse(model="gpt-4o-mini", messages=USER)
        fp.fail_next(Failure(status=429, retry_after=0.01, count=3, path="chat"))
        with pytest.raises(openai.RateLimitError):
            await aclient.chat.completions.create(model="gpt-4o", messages=USER)
        return final.choices[0].message.content or ""

    final_text = asyncio.run(run())
    names = sorted(s.name for s in tel.spans)
    assert names == [
        "chat gpt-4o",
        "chat gpt-4o",
        "chat gpt-4o",
        "chat gpt-4o-mini",
        "chat gpt-4o-mini",
        "chat gpt-4o-mini",
        "embeddings text-embedding-3-small",
    ]
    plain, streamed, _parsed = (attrs(s) for s in tel.spans_named("chat gpt-4o-mini"))
    assert plain["gen_ai.usage.output_tokens"] == streamed["gen_ai.usage.output_tokens"]
    assert streamed["gen_ai.response.time_to_first_chunk"] > 0
    helper_span = next(s for s in tel.spans_named("chat gpt-4o") if attrs(s).get("gen_ai.request.stream"))
    assert attrs(helper_span)["gen_ai.usage.output_tokens"] == n(final_text)
    failed = [s for s in tel.spans_named("chat gpt-4o") if s.status.status_code.name == "ERROR"]
    assert [attrs(s)["agentwatch.attempts"] for s in failed] == [3]


def test_concurrent_calls(aclient: openai.AsyncOpenAI, tel: Captured) -> None:
    async def run() -> list[int]:
        results = await asyncio.gather(
            *[
                aclient.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": f"q{i}"}]
                )
                for i in range(20)
            ]
        )
        return [r.usage.prompt_tokens for r in results]

    prompts = asyncio.run(run())
    spans = tel.spans_named("chat gpt-4o-mini")
    assert len(spans) == 20
    assert sorted(attrs(s)["gen_ai.usage.input_tokens"] for s in spans) == sorted(prompts)
    assert len({s.context.trace_id for s in spans}) == 20  # siblings, not nested in each other
    assert calls(tel, "gpt-4o-mini", "ok") == 20


def test_async_stream_closed_early(aclient: openai.AsyncOpenAI, tel: Captured) -> None:
    async def run() -> None:
        stream = await aclient.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True)
        await stream.__anext__()
        await stream.close()

    asyncio.run(run())
    assert calls(tel, "gpt-4o-mini", "interrupted") == 1
