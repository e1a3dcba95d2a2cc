"""Streamed calls: the caller sees the SDK's stream unchanged; usage, time to first chunk and the
outcome are recorded when the stream ends, is closed, is cut or is dropped half-read."""

from __future__ import annotations

import gc

import openai
import pytest
from oa_helpers import attrs, calls, cost, n, prompt_tokens

import agentwatch_openai
from agentwatch.fake_provider import Failure, FakeProvider, Latency
from agentwatch.testing import Captured

USER = [{"role": "user", "content": "Draft a cover letter for a data engineering role"}]


def _text(chunks: list) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_stream_with_usage(client: openai.OpenAI, tel: Captured) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=USER, stream=True, stream_options={"include_usage": True}
    )
    assert isinstance(stream, openai.Stream)
    chunks = list(stream)
    assert chunks[-1].choices == [] and chunks[-1].usage is not None  # the caller still sees the usage chunk
    span = tel.span("chat gpt-4o-mini")
    a = attrs(span)
    out = n(_text(chunks))
    assert a["gen_ai.request.stream"] is True
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (prompt_tokens(USER), out)
    assert a["agentwatch.usage.estimated"] is False
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["agentwatch.cost.usd"] == pytest.approx(cost("gpt-4o-mini", prompt_tokens(USER), out), rel=1e-9)
    duration = (span.end_time - span.start_time) / 1e9
    assert 0 < a["gen_ai.response.time_to_first_chunk"] <= duration
    assert (
        tel.sample("agentwatch_llm_time_to_first_token_seconds_count", provider="openai", model="gpt-4o-mini")
        == 1
    )


def test_time_to_first_chunk_follows_the_server(
    fp: FakeProvider, client: openai.OpenAI, tel: Captured
) -> None:
    fp.latency = Latency(ttft=0.2, per_token=0.001)
    list(client.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True))
    span = tel.span("chat gpt-4o-mini")
    ttfc = attrs(span)["gen_ai.response.time_to_first_chunk"]
    assert 0.2 <= ttfc < 0.45
    assert (span.end_time - span.start_time) / 1e9 >= ttfc + 0.04  # the rest of the tokens came later


def test_stream_without_usage_is_estimated_exactly(client: openai.OpenAI, tel: Captured) -> None:
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True))
    assert all(c.usage is None for c in chunks)
    plain = client.chat.completions.create(model="gpt-4o-mini", messages=USER)  # what the provider reports
    streamed, reported = (attrs(s) for s in tel.spans_named("chat gpt-4o-mini"))
    assert streamed["agentwatch.usage.estimated"] is True
    assert reported["agentwatch.usage.estimated"] is False
    assert streamed["gen_ai.usage.input_tokens"] == plain.usage.prompt_tokens
    assert streamed["gen_ai.usage.output_tokens"] == plain.usage.completion_tokens == n(_text(chunks))


def test_injected_usage_is_hidden_from_the_caller(fp: FakeProvider, tel: Captured) -> None:
    client = agentwatch_openai.instrument(
        openai.OpenAI(base_url=fp.openai_base_url, api_key="sk-x"), inject_stream_usage=True
    )
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True))
    assert fp.requests[-1].body["stream_options"] == {"include_usage": True}
    assert all(c.usage is None and c.choices for c in chunks)  # no usage-only chunk reached the caller
    a = attrs(tel.span("chat gpt-4o-mini"))
    assert a["agentwatch.usage.estimated"] is False
    assert a["gen_ai.usage.output_tokens"] == n(_text(chunks))
    # a caller who asked for usage still gets the chunk
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=USER, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].usage is not None
    agentwatch_openai.uninstrument(client)


def test_stream_helper_and_final_completion(client: openai.OpenAI, tel: Captured) -> None:
    with client.chat.completions.stream(
        model="gpt-4o", messages=USER, stream_options={"include_usage": True}
    ) as stream:
        deltas = [event.delta for event in stream if event.type == "content.delta"]
        final = stream.get_final_completion()
    assert "".join(deltas) == final.choices[0].message.content
    a = attrs(tel.span("chat gpt-4o"))
    assert a["gen_ai.usage.output_tokens"] == final.usage.completion_tokens == n("".join(deltas))
    assert a["agentwatch.usage.estimated"] is False
    assert calls(tel, "gpt-4o", "ok") == 1


def test_leaving_the_helper_early_ends_the_call(client: openai.OpenAI, tel: Captured) -> None:
    with client.chat.completions.stream(model="gpt-4o", messages=USER) as stream:
        for event in stream:
            if event.type == "content.delta":
                break
        assert tel.spans_named("chat gpt-4o") == []
    a = attrs(tel.span("chat gpt-4o"))  # ended when the block was left, not at garbage collection
    assert a["agentwatch.usage.estimated"] is True
    assert a["gen_ai.usage.input_tokens"] == prompt_tokens(USER)
    assert calls(tel, "gpt-4o", "interrupted") == 1


def test_closed_and_abandoned_streams(client: openai.OpenAI, tel: Captured) -> None:
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True)
    first, second = next(stream), next(stream)
    stream.close()
    a = attrs(tel.span("chat gpt-4o-mini"))
    assert a["gen_ai.usage.output_tokens"] == n(
        first.choices[0].delta.content + second.choices[0].delta.content
    )
    assert span_status(tel) == ["UNSET"]
    tel.clear()
    with client.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True) as stream:
        next(stream)
    assert len(tel.spans_named("chat gpt-4o-mini")) == 1
    tel.clear()
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True)
    next(stream)
    del stream
    gc.collect()
    assert len(tel.spans_named("chat gpt-4o-mini")) == 1
    assert calls(tel, "gpt-4o-mini", "interrupted") == 3


def span_status(tel: Captured) -> list[str]:
    return [s.status.status_code.name for s in tel.spans]


def test_stream_cut_in_the_middle(client: openai.OpenAI, fp: FakeProvider, tel: Captured) -> None:
    fp.fail_next(Failure(kind="cut", after_events=3, path="chat"))
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True)
    received = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in stream:
            received.append(chunk)
    assert len(received) == 3
    span = tel.span("chat gpt-4o-mini")
    a = attrs(span)
    assert span.status.status_code.name == "ERROR"
    assert a["error.type"] == "APIConnectionError"
    assert a["gen_ai.usage.output_tokens"] == n(_text(received))
    assert a["agentwatch.usage.estimated"] is True
    assert (
        tel.sample(
            "agentwatch_llm_errors_total",
            provider="openai",
            model="gpt-4o-mini",
            error_type="APIConnectionError",
        )
        == 1
    )


def test_streamed_tool_call(client: openai.OpenAI, tel: Captured) -> None:
    tools = [{"type": "function", "function": {"name": "search_jobs", "parameters": {"type": "object"}}}]
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "search"}],
            tools=tools,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    a = attrs(tel.span("chat gpt-4o"))
    assert a["agentwatch.tool_calls.names"] == ("search_jobs",)
    assert a["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert a["gen_ai.usage.output_tokens"] == chunks[-1].usage.completion_tokens


def test_responses_stream(client: openai.OpenAI, tel: Captured) -> None:
    events = list(client.responses.create(model="o4-mini", input="Summarise the posting", stream=True))
    final = events[-1].response
    a = attrs(tel.span("chat o4-mini"))
    assert a["gen_ai.usage.reasoning.output_tokens"] == 192
    assert a["gen_ai.usage.output_tokens"] == final.usage.output_tokens == 192 + n(final.output_text)
    assert a["gen_ai.response.finish_reasons"] == ("completed",)
    assert a["gen_ai.response.id"] == final.id
    assert a["gen_ai.response.time_to_first_chunk"] > 0
    with client.responses.stream(model="gpt-4o", input="Summarise the posting") as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        response = stream.get_final_response()
    assert text == response.output_text
    assert attrs(tel.span("chat gpt-4o"))["gen_ai.usage.output_tokens"] == n(text)
