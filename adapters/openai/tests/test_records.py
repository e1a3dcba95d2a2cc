"""The records of repeated requests are made once per client: what they are made of is declared, and
a reused record gives exactly the attributes of a fresh one."""

from __future__ import annotations

from typing import Any

import openai
import pydantic
from oa_helpers import attrs

from agentwatch import wrapping
from agentwatch.testing import Captured
from agentwatch_openai import _instrument, _mapping

USER = [{"role": "user", "content": "Rank these three job offers"}]


class Reads(dict[str, Any]):
    """Keyword arguments that remember which ones were read."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)


class Answer(pydantic.BaseModel):
    rank: int


def test_record_functions_read_only_their_declared_arguments() -> None:
    settings = wrapping.ClientSettings()
    chat = Reads(
        model="gpt-4o",
        messages=USER,
        stream=True,
        temperature=0.1,
        top_p=0.5,
        frequency_penalty=0.2,
        presence_penalty=0.3,
        seed=1,
        max_tokens=9,
        max_completion_tokens=9,
        stop="x",
        n=2,
        response_format={"type": "json_object"},
        tools=[],
        user="u",
    )
    _mapping.chat_record(settings, chat)
    assert chat.read - {"messages"} <= set(_mapping.CHAT_KEYS)
    assert _instrument.CHAT.record_keys == _mapping.CHAT_KEYS
    responses = Reads(
        model="gpt-4o",
        input="hi",
        instructions="be brief",
        stream=False,
        temperature=0.1,
        top_p=0.5,
        max_output_tokens=9,
        text={"format": {"type": "text"}},
        text_format=Answer,
    )
    _mapping.responses_record(settings, responses)
    assert responses.read - {"input", "instructions"} <= set(_mapping.RESPONSES_KEYS)
    assert _instrument.RESPONSES.record_keys == _mapping.RESPONSES_KEYS
    embeddings = Reads(model="text-embedding-3-small", input="hi", encoding_format="float", dimensions=8)
    _mapping.embeddings_record(settings, embeddings)
    assert embeddings.read - {"input"} <= set(_mapping.EMBEDDINGS_KEYS)
    assert _instrument.EMBEDDINGS.record_keys == _mapping.EMBEDDINGS_KEYS


def test_repeated_requests_get_the_attributes_of_their_own_arguments(
    client: openai.OpenAI, tel: Captured
) -> None:
    for temperature in (0.2, 0.2, 0.7, None, 0.2):
        extra = {} if temperature is None else {"temperature": temperature}
        client.chat.completions.create(model="gpt-4o-mini", messages=USER, max_tokens=50, **extra)
    client.chat.completions.create(model="gpt-4o-mini", messages=USER, stop=["\n"])  # a list: not cached
    client.chat.completions.create(model="gpt-4o", messages=USER, max_tokens=50, temperature=0.2)
    spans = [attrs(s) for s in tel.spans]
    assert [a.get("gen_ai.request.temperature") for a in spans] == [0.2, 0.2, 0.7, None, 0.2, None, 0.2]
    assert [a.get("gen_ai.request.max_tokens") for a in spans] == [50, 50, 50, 50, 50, None, 50]
    assert [a.get("gen_ai.request.stop_sequences") for a in spans] == [None] * 5 + [("\n",), None]
    assert [a["gen_ai.request.model"] for a in spans] == ["gpt-4o-mini"] * 6 + ["gpt-4o"]
    assert [s.name for s in tel.spans] == ["chat gpt-4o-mini"] * 6 + ["chat gpt-4o"]
    # one record per distinct request, without the prompt
    settings = _instrument.SWITCH.settings(client)
    assert settings is not None
    assert len(settings.records) == 4
    assert all(r.input_messages is None for r in settings.records.values())
