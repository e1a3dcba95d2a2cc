"""No API key, Authorization header or organisation id ever lands in exported telemetry, even with
content capture on and on failures."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest
from oa_helpers import API_KEY
from prometheus_client import generate_latest

import agentwatch_openai
from agentwatch import errors
from agentwatch.fake_provider import Failure, FakeProvider
from agentwatch.testing import Captured, capture


@pytest.fixture
def tel_with_content() -> Iterator[Captured]:
    errors.reset()
    with capture(capture_content=True) as captured:
        yield captured


def test_nothing_secret_is_exported(fp: FakeProvider, tel_with_content: Captured) -> None:
    tel = tel_with_content
    client = agentwatch_openai.instrument(
        openai.OpenAI(
            base_url=fp.openai_base_url, api_key=API_KEY, organization="org-Secret42", max_retries=1
        )
    )
    messages = [{"role": "user", "content": "Summarise my CV"}]
    client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    list(client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True))
    client.responses.create(model="gpt-4o", input="hi")
    client.embeddings.create(model="text-embedding-3-small", input="hi")
    fp.fail_next(Failure(status=429, retry_after=0.01, count=2, path="chat"))
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    fp.fail_next(Failure(status=401, path="chat", message=f"Incorrect API key provided: {API_KEY}"))
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert fp.requests[0].headers["authorization"] == f"Bearer {API_KEY}"  # it was sent
    assert "gen_ai.input.messages" in tel.spans[0].attributes  # content capture is on

    exported = "\n".join(span.to_json() for span in tel.spans) + generate_latest(tel.registry).decode()
    for secret in (API_KEY, API_KEY[3:], "Bearer", "org-Secret42", "fake-org"):
        assert secret not in exported
    assert json.loads(tel.spans[0].to_json())["name"] == "chat gpt-4o-mini"
    agentwatch_openai.uninstrument(client)
