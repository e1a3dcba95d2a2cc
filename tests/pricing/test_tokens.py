"""Offline token counting with the bundled encodings (no download, ever)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import agentwatch
from agentwatch import tokens


@pytest.fixture(scope="module")
def offline() -> Iterator[None]:
    """Load the encodings from scratch with tiktoken's download path made to fail.

    (Only tiktoken's own loader is blocked, not the socket module: other threads of the test
    process may legitimately use the network.)
    """
    import tiktoken.load
    import tiktoken_ext.openai_public

    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise OSError("download attempted")

    saved = dict(tokens._encoders)
    tokens._encoders.clear()
    with pytest.MonkeyPatch.context() as mp:
        for name in ("read_file", "read_file_cached", "load_tiktoken_bpe"):
            mp.setattr(tiktoken.load, name, refuse)
        mp.setattr(tiktoken_ext.openai_public, "load_tiktoken_bpe", refuse)
        tokens.get_encoding(tokens.O200K)
        tokens.get_encoding(tokens.CL100K)
    assert attempts == []
    yield
    tokens._encoders.update(saved)


def test_known_token_ids(offline: None) -> None:
    assert tokens.get_encoding("o200k_base").encode_ordinary("hello world") == [24912, 2375]
    assert tokens.get_encoding("cl100k_base").encode_ordinary("hello world") == [15339, 1917]


def test_it_is_the_fast_tiktoken_encoder(offline: None) -> None:
    import tiktoken

    assert isinstance(tokens.get_encoding("o200k_base"), tiktoken.Encoding)


@pytest.mark.parametrize(("model", "encoding"), [
    ("gpt-4o", "o200k_base"), ("gpt-4o-mini-2024-07-18", "o200k_base"), ("openai/gpt-4.1", "o200k_base"),
    ("gpt-5-mini", "o200k_base"), ("o3", "o200k_base"), ("o4-mini", "o200k_base"),
    ("gpt-4", "cl100k_base"), ("gpt-4-turbo", "cl100k_base"), ("gpt-3.5-turbo", "cl100k_base"),
    ("text-embedding-3-small", "cl100k_base"),
    ("claude-sonnet-4-5", "o200k_base"), ("gemini-2.5-pro", "o200k_base"), (None, "o200k_base"),
])
def test_encoding_per_model_family(model: str | None, encoding: str) -> None:
    assert tokens.encoding_name_for(model) == encoding


def test_count_text_and_messages(offline: None) -> None:
    enc = tokens.get_encoding("o200k_base")
    text = "Analyse this job posting for a backend role"
    assert agentwatch.count_tokens(text, "gpt-4o") == len(enc.encode_ordinary(text))
    assert agentwatch.count_tokens("hello world", "gpt-4") == 2
    messages = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": text}], "name": "ana"}]
    expected = (3 + len(enc.encode_ordinary("system")) + len(enc.encode_ordinary("Be brief."))
                + 3 + len(enc.encode_ordinary("user")) + len(enc.encode_ordinary(text))
                + 1 + len(enc.encode_ordinary("ana")) + 3)
    assert agentwatch.count_tokens(messages, "gpt-4o") == expected
    assert agentwatch.count_tokens([], "gpt-4o") == 0


def test_special_token_text_is_counted_as_text(offline: None) -> None:
    assert agentwatch.count_tokens("<|endoftext|>", "gpt-4o") > 1


def test_estimates_are_marked_and_priced_as_such(offline: None) -> None:
    usage = tokens.estimate_usage("hello world", "hello", "claude-haiku-4-5")
    assert (usage.input_tokens, usage.output_tokens, usage.estimated) == (2, 1, True)
    cost = agentwatch.estimate_cost("anthropic", "claude-haiku-4-5", usage)
    assert cost is not None and cost.estimated_tokens is True


def test_estimated_usage_on_the_span(tel: Any, offline: None) -> None:
    @agentwatch.track_inference(provider="anthropic", model="claude-haiku-4-5")
    def ask(prompt: str) -> str:
        answer = "Sure."
        agentwatch.current_call().set_usage(tokens.estimate_usage(prompt, answer, "claude-haiku-4-5"))
        return answer

    ask("hello world")
    a = tel.span("chat claude-haiku-4-5").attributes or {}
    assert a["agentwatch.usage.estimated"] is True
    assert a["gen_ai.usage.input_tokens"] == 2
    assert a["agentwatch.cost.usd"] == pytest.approx((2 * 1 + 2 * 5) / 1e6)


def test_unknown_encoding() -> None:
    with pytest.raises(ValueError, match="bundles"):
        tokens.get_encoding("p50k_base")
