"""Every provider usage shape normalised into one Usage (input includes cache, output reasoning)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from agentwatch import Usage, errors, normalize
from agentwatch.normalize import (
    AnthropicStreamUsage,
    finish_reasons_from_any,
    response_id_from_any,
    response_model_from_any,
    usage_from_anthropic,
    usage_from_any,
    usage_from_langchain,
    usage_from_openai_chat,
    usage_from_openai_embeddings,
    usage_from_openai_responses,
)

CHAT: dict[str, Any] = {
    "id": "chatcmpl-9", "object": "chat.completion", "created": 1, "model": "gpt-4o-2024-08-06",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"},
                {"index": 1, "message": {"role": "assistant", "content": "ho"}, "finish_reason": "length"}],
    "usage": {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500,
              "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
              "completion_tokens_details": {"reasoning_tokens": 128, "audio_tokens": 0}},
}
RESPONSES_USAGE: dict[str, Any] = {
    "input_tokens": 5000, "output_tokens": 900, "total_tokens": 5900,
    "input_tokens_details": {"cached_tokens": 3000, "cache_write_tokens": 1000},
    "output_tokens_details": {"reasoning_tokens": 640},
}
ANTHROPIC_USAGE: dict[str, Any] = {
    "input_tokens": 50, "output_tokens": 400,
    "cache_read_input_tokens": 8000, "cache_creation_input_tokens": 3000,
    "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000},
}
ANTHROPIC_EXPECTED = Usage(input_tokens=11_050, output_tokens=400, cache_read_tokens=8000,
                           cache_write_tokens=3000, cache_write_1h_tokens=2000)


@pytest.fixture(autouse=True)
def _fresh_error_counts() -> None:
    errors.reset()


# --- OpenAI ---------------------------------------------------------------------------------------------
def test_openai_chat_dict_and_sdk_object() -> None:
    from openai.types.chat import ChatCompletion

    expected = Usage(input_tokens=1200, output_tokens=300, cache_read_tokens=1024, reasoning_tokens=128)
    assert usage_from_openai_chat(CHAT) == expected
    assert usage_from_openai_chat(CHAT["usage"]) == expected
    sdk = ChatCompletion.model_validate(CHAT)
    assert usage_from_openai_chat(sdk) == expected
    assert usage_from_any(sdk) == expected
    assert response_model_from_any(sdk) == "gpt-4o-2024-08-06"
    assert response_id_from_any(sdk) == "chatcmpl-9"
    assert finish_reasons_from_any(sdk) == ("stop", "length")


def test_openai_chat_details_may_be_none_or_missing() -> None:
    from openai.types import CompletionUsage

    u = CompletionUsage(prompt_tokens=10, completion_tokens=2, total_tokens=12,
                        prompt_tokens_details=None, completion_tokens_details=None)
    assert usage_from_any(u) == Usage(input_tokens=10, output_tokens=2)
    assert usage_from_openai_chat({"prompt_tokens": 7, "completion_tokens": 0}) == Usage(input_tokens=7)


def test_openai_final_stream_chunk_carries_usage() -> None:
    from openai.types.chat import ChatCompletionChunk

    chunk = ChatCompletionChunk.model_validate({
        "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini-2024-07-18",
        "choices": [], "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25},
    })
    assert usage_from_any(chunk) == Usage(input_tokens=20, output_tokens=5)
    assert finish_reasons_from_any(chunk) == ()


def test_openai_responses_usage_response_and_completed_event() -> None:
    from openai.types.responses import ResponseUsage

    expected = Usage(input_tokens=5000, output_tokens=900, cache_read_tokens=3000, cache_write_tokens=1000,
                     reasoning_tokens=640)
    assert usage_from_openai_responses(RESPONSES_USAGE) == expected
    assert usage_from_any(ResponseUsage.model_validate(RESPONSES_USAGE)) == expected
    response = {"id": "resp_1", "object": "response", "model": "gpt-5-2025-08-07", "status": "completed",
                "usage": RESPONSES_USAGE}
    event = {"type": "response.completed", "sequence_number": 9, "response": response}
    for shape in (response, event):
        assert usage_from_openai_responses(shape) == expected
        assert usage_from_any(shape) == expected
        assert response_model_from_any(shape) == "gpt-5-2025-08-07"
        assert response_id_from_any(shape) == "resp_1"
        assert finish_reasons_from_any(shape) == ("completed",)


def test_openai_embeddings() -> None:
    from openai.types import CreateEmbeddingResponse

    body = {"object": "list", "model": "text-embedding-3-small",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
            "usage": {"prompt_tokens": 37, "total_tokens": 37}}
    assert usage_from_openai_embeddings(body) == Usage(input_tokens=37)
    sdk = CreateEmbeddingResponse.model_validate(body)
    assert usage_from_any(sdk) == Usage(input_tokens=37)
    assert response_model_from_any(sdk) == "text-embedding-3-small"


# --- Anthropic ------------------------------------------------------------------------------------------
def test_anthropic_adds_cache_back_into_input() -> None:
    from anthropic.types import Message

    assert usage_from_anthropic(ANTHROPIC_USAGE) == ANTHROPIC_EXPECTED
    message = Message.model_validate({
        "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
        "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": ANTHROPIC_USAGE,
    })
    assert usage_from_anthropic(message) == ANTHROPIC_EXPECTED
    assert usage_from_any(message) == ANTHROPIC_EXPECTED
    assert response_model_from_any(message) == "claude-sonnet-4-5-20250929"
    assert response_id_from_any(message) == "msg_01"
    assert finish_reasons_from_any(message) == ("end_turn",)


def test_anthropic_without_cache_fields_and_with_only_the_split() -> None:
    assert usage_from_anthropic({"input_tokens": 12, "output_tokens": 3}) == Usage(input_tokens=12, output_tokens=3)
    split_only = {"input_tokens": 10, "output_tokens": 1,
                  "cache_creation": {"ephemeral_5m_input_tokens": 5, "ephemeral_1h_input_tokens": 7}}
    assert usage_from_anthropic(split_only) == Usage(input_tokens=22, output_tokens=1, cache_write_tokens=12,
                                                     cache_write_1h_tokens=7)


def test_anthropic_thinking_tokens_are_reasoning() -> None:
    usage = {"input_tokens": 100, "output_tokens": 900, "output_tokens_details": {"thinking_tokens": 700}}
    assert usage_from_any({"usage": usage}) == Usage(input_tokens=100, output_tokens=900, reasoning_tokens=700)


def test_anthropic_stream_usage_from_dict_events() -> None:
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": {"id": "msg_1", "model": "claude-haiku-4-5-20251001",
                                              "usage": {**ANTHROPIC_USAGE, "output_tokens": 1}}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}},
        {"type": "message_delta", "delta": {"stop_reason": None}, "usage": {"output_tokens": 120}},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 400}},
        {"type": "message_stop"},
    ]
    acc = AnthropicStreamUsage()
    assert acc.usage() is None
    for event in events:
        acc.feed(event)
    # cumulative: the last delta's 400, never 1 + 120 + 400
    assert acc.usage() == ANTHROPIC_EXPECTED


def test_anthropic_stream_delta_with_cumulative_input_and_cache() -> None:
    acc = AnthropicStreamUsage()
    acc.feed({"type": "message_start", "message": {"usage": {"input_tokens": 0, "output_tokens": 1}}})
    acc.feed({"type": "message_delta", "usage": {"input_tokens": 50, "output_tokens": 400,
                                                 "cache_read_input_tokens": 8000,
                                                 "cache_creation_input_tokens": 3000}})
    assert acc.usage() == Usage(input_tokens=11_050, output_tokens=400, cache_read_tokens=8000,
                                cache_write_tokens=3000)


# --- LangChain usage_metadata ---------------------------------------------------------------------------
def test_langchain_openai_shape() -> None:
    meta = {"input_tokens": 1200, "output_tokens": 300, "total_tokens": 1500,
            "input_token_details": {"audio": 0, "cache_read": 1024},
            "output_token_details": {"audio": 0, "reasoning": 128}}
    expected = Usage(input_tokens=1200, output_tokens=300, cache_read_tokens=1024, reasoning_tokens=128)
    assert usage_from_langchain(meta) == expected
    assert usage_from_any({"usage_metadata": meta}) == expected


def test_langchain_anthropic_raw_numbers_get_the_cache_added_when_told() -> None:
    # A usage_metadata built from the raw SDK numbers (input without cache) is recognisable only
    # with the provider: the cache parts then exceed the input total.
    meta = {"input_tokens": 50, "output_tokens": 400, "total_tokens": 450,
            "input_token_details": {"cache_read": 8000, "cache_creation": 3000}}
    assert usage_from_langchain(meta, provider="anthropic") == Usage(
        input_tokens=11_050, output_tokens=400, cache_read_tokens=8000, cache_write_tokens=3000)


lc_messages = pytest.importorskip("langchain_core.messages")


def _anthropic_invoke_message() -> Any:
    """What ChatAnthropic.invoke returns for ANTHROPIC_USAGE (langchain-anthropic's mapping)."""
    return lc_messages.AIMessage(
        content="hi",
        response_metadata={"model_name": "claude-sonnet-4-5-20250929", "stop_reason": "end_turn",
                           "id": "msg_01"},
        usage_metadata={
            "input_tokens": 11_050, "output_tokens": 400, "total_tokens": 11_450,
            # the TTL split present: the generic key is zeroed so nothing counts twice
            "input_token_details": {"cache_read": 8000, "cache_creation": 0,
                                    "ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000},
        },
    )


def _anthropic_stream_chunks() -> list[Any]:
    """What ChatAnthropic.stream yields for the same call: usage only on the final message_delta
    chunk, from the cumulative delta usage, which has no 5m/1h split."""
    chunk = lc_messages.AIMessageChunk
    return [
        chunk(content="", response_metadata={"model_name": "claude-sonnet-4-5-20250929"}),
        chunk(content="h"),
        chunk(content="i"),
        chunk(content="", response_metadata={"stop_reason": "end_turn"},
              usage_metadata={"input_tokens": 11_050, "output_tokens": 400, "total_tokens": 11_450,
                              "input_token_details": {"cache_read": 8000, "cache_creation": 3000}}),
    ]


def _anthropic_stream_chunks_older() -> list[Any]:
    """Older langchain-anthropic: usage on message_start (with details), output on message_delta."""
    chunk = lc_messages.AIMessageChunk
    return [
        chunk(content="", usage_metadata={"input_tokens": 11_050, "output_tokens": 1, "total_tokens": 11_051,
                                          "input_token_details": {"cache_read": 8000, "cache_creation": 3000}}),
        chunk(content="hi"),
        chunk(content="", usage_metadata={"input_tokens": 0, "output_tokens": 399, "total_tokens": 399}),
    ]


def _summed(chunks: list[Any]) -> Any:
    total = chunks[0]
    for c in chunks[1:]:
        total = total + c  # langchain_core's own chunk addition (sums usage_metadata)
    return total


def test_langchain_anthropic_invoke_vs_stream_agree_on_every_total() -> None:
    invoke = usage_from_any(_anthropic_invoke_message())
    assert invoke == ANTHROPIC_EXPECTED
    for chunks in (_anthropic_stream_chunks(), _anthropic_stream_chunks_older()):
        streamed = usage_from_any(_summed(chunks))
        assert streamed is not None
        assert (streamed.input_tokens, streamed.output_tokens, streamed.cache_read_tokens,
                streamed.cache_write_tokens) == (11_050, 400, 8000, 3000)
        # the stream does not say which writes were 1-hour ones: they are priced as 5-minute writes
        assert streamed.cache_write_1h_tokens == 0


def test_langchain_stream_chunk_by_chunk_usage_is_read_from_the_final_chunk() -> None:
    chunks = _anthropic_stream_chunks()
    assert [usage_from_any(c) for c in chunks[:3]] == [None, None, None]
    assert usage_from_any(chunks[-1]) == Usage(input_tokens=11_050, output_tokens=400, cache_read_tokens=8000,
                                               cache_write_tokens=3000)
    assert finish_reasons_from_any(chunks[-1]) == ("end_turn",)
    assert response_model_from_any(chunks[0]) == "claude-sonnet-4-5-20250929"


def test_langchain_openai_invoke_vs_stream() -> None:
    details = {"input_token_details": {"audio": 0, "cache_read": 1024},
               "output_token_details": {"audio": 0, "reasoning": 128}}
    invoke = lc_messages.AIMessage(content="hi", usage_metadata={
        "input_tokens": 1200, "output_tokens": 300, "total_tokens": 1500, **details})
    stream = [lc_messages.AIMessageChunk(content="h"), lc_messages.AIMessageChunk(content="i"),
              lc_messages.AIMessageChunk(content="", usage_metadata={
                  "input_tokens": 1200, "output_tokens": 300, "total_tokens": 1500, **details})]
    expected = Usage(input_tokens=1200, output_tokens=300, cache_read_tokens=1024, reasoning_tokens=128)
    assert usage_from_any(invoke) == expected
    assert usage_from_any(_summed(stream)) == expected


# --- malformed ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [
    {"prompt_tokens": -1, "completion_tokens": 3},
    {"prompt_tokens": "12", "completion_tokens": 3},
    {"prompt_tokens": 10, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": 11}},
    {"prompt_tokens": 10, "completion_tokens": 3, "completion_tokens_details": {"reasoning_tokens": 4}},
    {"input_tokens": 1.5, "output_tokens": 2},
    {"input_tokens": True, "output_tokens": 2},
    {"input_tokens": float("nan"), "output_tokens": 2},
])
def test_malformed_usage_is_no_usage_and_one_counted_warning(bad: dict[str, Any],
                                                             caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="agentwatch"):
        assert usage_from_any({"usage": bad}) is None
    assert errors.counts() == {"usage": 1}
    assert len([r for r in caplog.records if "malformed" in r.getMessage()]) == 1


@pytest.mark.parametrize("nothing", [None, "text", b"bytes", 42, {"id": "x"}, {"usage": None}, object()])
def test_results_without_usage_give_none_silently(nothing: Any) -> None:
    assert usage_from_any(nothing) is None
    assert errors.counts() == {}


@pytest.mark.parametrize("fn", [usage_from_openai_chat, usage_from_openai_responses,
                                usage_from_openai_embeddings, usage_from_anthropic, usage_from_langchain])
@pytest.mark.parametrize("bad", [None, "usage", {}, {"output_tokens": 3}])
def test_specific_normalisers_reject_cleanly(fn: Any, bad: Any) -> None:
    assert fn(bad) is None
    assert errors.counts() == {"usage": 1}


def test_an_object_whose_attributes_raise_is_handled() -> None:
    class Hostile:
        @property
        def usage(self) -> Any:
            raise RuntimeError("boom")

    assert usage_from_any(Hostile()) is None
    assert response_model_from_any(Hostile()) is None
    assert finish_reasons_from_any(Hostile()) == ()


def test_usage_passes_through_and_semconv_mapping_is_read() -> None:
    u = Usage(input_tokens=3, output_tokens=1)
    assert usage_from_any(u) is u
    assert usage_from_any({"usage": u}) is u
    assert normalize.usage_from_any({"usage": {"input_tokens": 10, "output_tokens": 2, "cache_read_tokens": 4,
                                               "estimated": True}}) == Usage(
        input_tokens=10, output_tokens=2, cache_read_tokens=4, estimated=True)


class _Partial:
    """An SDK-like object: some fields missing, one property that raises, the rest attributes."""

    def __init__(self, values: dict[str, Any], broken: str | None = None) -> None:
        self.__dict__.update(values)
        self._broken = broken

    def __getattr__(self, name: str) -> Any:
        if name == self.__dict__.get("_broken"):
            raise RuntimeError(f"{name} cannot be read")
        raise AttributeError(name)


def _as_objects(value: Any, broken: str | None = None) -> Any:
    if isinstance(value, dict):
        return _Partial({k: _as_objects(v) for k, v in value.items()}, broken)
    return value


@pytest.mark.parametrize("broken", [None, "cache_creation", "completion_tokens_details"])
def test_objects_read_like_their_dicts_whatever_fields_they_lack(broken: str | None) -> None:
    # Objects are read through one attribute getter per field list, field by field when a type lacks
    # a field or a property raises: the numbers must be those of the same JSON as a dict, every time.
    chat, anthropic = dict(CHAT["usage"]), dict(ANTHROPIC_USAGE)
    if broken == "cache_creation":
        del anthropic["cache_creation"]
    if broken == "completion_tokens_details":
        del chat["completion_tokens_details"]
    for _ in range(3):  # the first read decides how the type is read; later reads use that
        assert usage_from_openai_chat(_as_objects(chat, broken)) == usage_from_openai_chat(chat)
        assert usage_from_anthropic(_as_objects(anthropic, broken)) == usage_from_anthropic(anthropic)
    assert errors.counts() == {}
