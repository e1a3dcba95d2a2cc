"""The records of repeated requests are made once per client: what they are made of is declared."""

from __future__ import annotations

import anthropic
from an_helpers import attrs

from agentwatch import wrapping
from agentwatch.testing import Captured
from agentwatch_anthropic import _instrument, _mapping

ASK = [{"role": "user", "content": "Shorten my cover letter"}]


def test_message_record_is_made_of_its_declared_arguments() -> None:
    settings = wrapping.ClientSettings(server_address="api.anthropic.com", server_port=443)
    kwargs = {
        "model": "claude-haiku-4-5",
        "messages": ASK,
        "system": "be brief",
        "stream": True,
        "max_tokens": 9,
        "temperature": 0.1,
        "top_p": 0.5,
        "top_k": 3,
        "stop_sequences": ["x"],
        "tools": [{"name": "search"}],
        "tool_choice": {"type": "auto"},
        "metadata": {"user_id": "u"},
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    }
    declared = {k: v for k, v in kwargs.items() if k in _mapping.MESSAGE_KEYS or k in ("messages", "system")}
    assert _mapping.message_record(settings, kwargs) == _mapping.message_record(settings, declared)
    assert _instrument.MESSAGES.record_keys == _mapping.MESSAGE_KEYS


def test_repeated_requests_get_the_attributes_of_their_own_arguments(
    client: anthropic.Anthropic, tel: Captured
) -> None:
    for max_tokens in (100, 100, 200, 100):
        client.messages.create(
            model="claude-haiku-4-5", max_tokens=max_tokens, messages=ASK, system="Be kind."
        )
    with client.messages.stream(model="claude-haiku-4-5", max_tokens=100, messages=ASK) as stream:
        stream.get_final_message()
    spans = [attrs(s) for s in tel.spans]
    assert [a["gen_ai.request.max_tokens"] for a in spans] == [100, 100, 200, 100, 100]
    assert [a.get("gen_ai.request.stream") for a in spans] == [None] * 4 + [True]
    settings = _instrument.SWITCH.settings(client)
    assert settings is not None
    assert len(settings.records) == 3  # 100, 200, and 100 streamed
