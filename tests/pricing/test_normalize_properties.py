"""Property tests: normalisation never raises, never goes negative, never lets a part exceed its total."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agentwatch import Usage, errors
from agentwatch.normalize import (
    AnthropicStreamUsage,
    usage_from_anthropic,
    usage_from_any,
    usage_from_langchain,
)

counts = st.integers(min_value=0, max_value=10**9)
junk = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**6), max_value=-1), st.text(max_size=5),
    st.floats(allow_nan=True, allow_infinity=True).filter(lambda f: not (f >= 0 and float(f).is_integer())),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
KEYS = [
    "usage", "usage_metadata", "prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details",
    "completion_tokens_details", "cached_tokens", "reasoning_tokens", "input_tokens", "output_tokens",
    "input_tokens_details", "output_tokens_details", "cache_write_tokens", "cache_read_input_tokens",
    "cache_creation_input_tokens", "cache_creation", "ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens",
    "input_token_details", "output_token_details", "cache_read", "cache_creation", "reasoning", "response",
    "message", "audio_tokens", "thinking_tokens",
]
anything = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from(KEYS), inner, max_size=6)),
    max_leaves=20,
)


def _sane(u: Usage) -> bool:
    values = (u.input_tokens, u.output_tokens, u.cache_read_tokens, u.cache_write_tokens, u.reasoning_tokens,
              u.cache_write_1h_tokens, u.input_audio_tokens, u.output_audio_tokens, u.input_image_tokens)
    return (all(isinstance(v, int) and v >= 0 for v in values)
            and u.cache_read_tokens + u.cache_write_tokens <= u.input_tokens
            and u.cache_write_1h_tokens <= u.cache_write_tokens
            and u.reasoning_tokens <= u.output_tokens)


@settings(max_examples=150, deadline=None)
@given(anything)
def test_anything_gives_sane_usage_or_none_never_an_exception(payload: Any) -> None:
    result = usage_from_any(payload)
    assert result is None or _sane(result)


@settings(max_examples=150, deadline=None)
@given(counts, counts, st.data())
def test_openai_chat_exact(prompt: int, completion: int, data: st.DataObject) -> None:
    cached = data.draw(st.integers(0, prompt))
    reasoning = data.draw(st.integers(0, completion))
    u = usage_from_any({"usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                                  "prompt_tokens_details": {"cached_tokens": cached},
                                  "completion_tokens_details": {"reasoning_tokens": reasoning}}})
    assert u == Usage(input_tokens=prompt, output_tokens=completion, cache_read_tokens=cached,
                      reasoning_tokens=reasoning)


@settings(max_examples=150, deadline=None)
@given(counts, counts, counts, counts, counts)
def test_anthropic_input_is_the_sum_and_parts_fit(uncached: int, out: int, read: int, w5: int, w1h: int) -> None:
    usage = {"input_tokens": uncached, "output_tokens": out, "cache_read_input_tokens": read,
             "cache_creation_input_tokens": w5 + w1h,
             "cache_creation": {"ephemeral_5m_input_tokens": w5, "ephemeral_1h_input_tokens": w1h}}
    u = usage_from_anthropic(usage)
    assert u is not None and _sane(u)
    assert u.input_tokens == uncached + read + w5 + w1h
    assert u.uncached_input_tokens == uncached
    assert (u.cache_write_tokens, u.cache_write_1h_tokens) == (w5 + w1h, w1h)
    # the same numbers streamed: message_start then cumulative deltas; the last delta wins
    acc = AnthropicStreamUsage()
    acc.feed({"type": "message_start", "message": {"usage": {**usage, "output_tokens": min(out, 1)}}})
    acc.feed({"type": "message_delta", "usage": {"output_tokens": out // 2}})
    acc.feed({"type": "message_delta", "usage": {"output_tokens": out}})
    assert acc.usage() == u


@settings(max_examples=150, deadline=None)
@given(counts, counts, st.data())
def test_langchain_exact(inp: int, out: int, data: st.DataObject) -> None:
    read = data.draw(st.integers(0, inp))
    write = data.draw(st.integers(0, inp - read))
    reasoning = data.draw(st.integers(0, out))
    u = usage_from_langchain({"input_tokens": inp, "output_tokens": out, "total_tokens": inp + out,
                              "input_token_details": {"cache_read": read, "cache_creation": write},
                              "output_token_details": {"reasoning": reasoning}})
    assert u == Usage(input_tokens=inp, output_tokens=out, cache_read_tokens=read, cache_write_tokens=write,
                      reasoning_tokens=reasoning)


SHAPES: list[tuple[dict[str, Any], list[tuple[str, ...]]]] = [
    ({"prompt_tokens": 100, "completion_tokens": 10, "prompt_tokens_details": {"cached_tokens": 50}},
     [("prompt_tokens",), ("completion_tokens",), ("prompt_tokens_details", "cached_tokens")]),
    ({"input_tokens": 10, "output_tokens": 10, "cache_read_input_tokens": 5, "cache_creation_input_tokens": 5},
     [("input_tokens",), ("output_tokens",), ("cache_read_input_tokens",), ("cache_creation_input_tokens",)]),
    ({"input_tokens": 100, "output_tokens": 10, "input_tokens_details": {"cached_tokens": 5},
      "output_tokens_details": {"reasoning_tokens": 5}},
     [("input_tokens",), ("output_tokens",), ("input_tokens_details", "cached_tokens"),
      ("output_tokens_details", "reasoning_tokens")]),
    ({"input_tokens": 100, "output_tokens": 10, "total_tokens": 110, "input_token_details": {"cache_read": 5}},
     [("input_tokens",), ("output_tokens",), ("input_token_details", "cache_read")]),
]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(SHAPES), st.data(), junk)
def test_one_bad_value_gives_no_usage_and_one_counted_warning(shape: Any, data: st.DataObject, bad: Any) -> None:
    payload, paths = shape
    path = data.draw(st.sampled_from(paths))
    broken: dict[str, Any] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in payload.items()}
    target = broken
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = bad
    errors.reset()
    result = usage_from_any({"usage": broken})
    if bad is None and path[-1] not in ("prompt_tokens", "input_tokens") and result is not None:
        # an optional count left out reads as 0; fine unless a part then exceeds its total
        assert _sane(result)
        assert errors.counts() == {}
        return
    assert result is None
    assert errors.counts() == {"usage": 1}
