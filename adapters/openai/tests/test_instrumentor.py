"""OpenAIInstrumentor: every client in the process, uninstrument(), the entry point."""

from __future__ import annotations

import gc
from importlib.metadata import entry_points

import openai
from openai.resources.chat.completions import Completions

import agentwatch_openai
from agentwatch import wrapping
from agentwatch.fake_provider import FakeProvider
from agentwatch.testing import Captured

USER = [{"role": "user", "content": "hello"}]


def test_every_client_then_none(fp: FakeProvider, tel: Captured) -> None:
    gc.collect()  # copies of clients instrumented by other tests (with_options) keep the SDK patched
    instrumentor = agentwatch_openai.OpenAIInstrumentor()
    instrumentor.instrument(inject_stream_usage=True)
    try:
        client = openai.OpenAI(base_url=fp.openai_base_url, api_key="k")  # never instrumented by hand
        client.chat.completions.create(model="gpt-4o-mini", messages=USER)
        chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True))
        assert all(c.choices for c in chunks)
        assert fp.requests[-1].body["stream_options"] == {"include_usage": True}
        assert len(tel.spans_named("chat gpt-4o-mini")) == 2
        assert wrapping.is_patched(Completions, "create")
    finally:
        instrumentor.uninstrument()
    # The class may stay patched while clients instrumented one by one (elsewhere in the process) live;
    # what must hold is that a client made by the instrumentor is no longer traced.
    client.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert len(tel.spans_named("chat gpt-4o-mini")) == 2


def test_uninstrument_keeps_single_clients(fp: FakeProvider, tel: Captured) -> None:
    single = agentwatch_openai.instrument(openai.OpenAI(base_url=fp.openai_base_url, api_key="k"))
    instrumentor = agentwatch_openai.OpenAIInstrumentor()
    instrumentor.instrument()
    other = openai.OpenAI(base_url=fp.openai_base_url, api_key="k")
    other.chat.completions.create(model="gpt-4o-mini", messages=USER)
    instrumentor.uninstrument()
    other.chat.completions.create(model="gpt-4o-mini", messages=USER)
    single.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert len(tel.spans_named("chat gpt-4o-mini")) == 2  # other's first call, single's call
    agentwatch_openai.uninstrument(single)
    single.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert len(tel.spans_named("chat gpt-4o-mini")) == 2


def test_entry_point() -> None:
    found = {ep.name: ep.value for ep in entry_points(group="opentelemetry_instrumentor")}
    assert found["openai"] == "agentwatch_openai:OpenAIInstrumentor"
    assert agentwatch_openai.OpenAIInstrumentor().instrumentation_dependencies() == ("openai >= 1.66",)
