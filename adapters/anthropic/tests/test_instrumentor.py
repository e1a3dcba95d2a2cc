"""AnthropicInstrumentor, the entry point, the SDK's own span switched off, and no secrets in
anything exported."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from importlib.metadata import entry_points

import anthropic
import pytest
from an_helpers import API_KEY
from prometheus_client import generate_latest

import agentwatch_anthropic
from agentwatch import errors
from agentwatch.fake_provider import Failure, FakeProvider
from agentwatch.testing import Captured, capture

ASK = [{"role": "user", "content": "hello"}]


def test_every_client_then_none(fp: FakeProvider, tel: Captured) -> None:
    gc.collect()  # copies of clients instrumented by other tests keep the SDK patched
    instrumentor = agentwatch_anthropic.AnthropicInstrumentor()
    instrumentor.instrument()
    try:
        client = anthropic.Anthropic(base_url=fp.anthropic_base_url, api_key="k")
        assert client.open_telemetry["traces"]["enabled"] is True
        client.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=ASK)
        assert client.open_telemetry["traces"]["enabled"] is False  # switched off on first use
        assert len(tel.spans_named("chat claude-haiku-4-5")) == 1
    finally:
        instrumentor.uninstrument()
    # The class may stay patched while clients instrumented one by one (elsewhere in the process) live;
    # what must hold is that a client made by the instrumentor is no longer traced.
    client.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=ASK)
    assert len(tel.spans_named("chat claude-haiku-4-5")) == 1


def test_entry_point() -> None:
    found = {ep.name: ep.value for ep in entry_points(group="opentelemetry_instrumentor")}
    assert found["anthropic"] == "agentwatch_anthropic:AnthropicInstrumentor"


_ONE_SPAN = textwrap.dedent(
    """
    import sys
    import anthropic
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    import agentwatch, agentwatch_anthropic
    from agentwatch.fake_provider import FakeProvider

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)  # the SDK's own tracing uses the global provider
    agentwatch.configure(tracer_provider=provider)
    with FakeProvider() as fp:
        ask = [{"role": "user", "content": "hi"}]
        bare = anthropic.Anthropic(base_url=fp.anthropic_base_url, api_key="k")
        bare.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=ask)
        client = agentwatch_anthropic.instrument(anthropic.Anthropic(base_url=fp.anthropic_base_url, api_key="k"))
        client.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=ask)
        print(sorted(s.name for s in exporter.get_finished_spans()))
        print([bool(r.headers.get("traceparent")) for r in fp.requests])
    agentwatch.shutdown()
    """
)


def test_sdk_span_switched_off_for_instrumented_clients() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _ONE_SPAN], check=False, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    spans, traceparents = result.stdout.strip().splitlines()
    # the bare client makes the SDK's span; the instrumented one makes only ours
    assert spans == "['anthropic.messages.create', 'chat claude-haiku-4-5']"
    assert traceparents == "[True, False]"


@pytest.fixture
def tel_with_content() -> Iterator[Captured]:
    errors.reset()
    with capture(capture_content=True) as captured:
        yield captured


def test_nothing_secret_is_exported(fp: FakeProvider, tel_with_content: Captured) -> None:
    tel = tel_with_content
    client = agentwatch_anthropic.instrument(
        anthropic.Anthropic(base_url=fp.anthropic_base_url, api_key=API_KEY, max_retries=1)
    )
    client.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=ASK, system="Be brief.")
    with client.messages.stream(model="claude-haiku-4-5", max_tokens=50, messages=ASK) as stream:
        stream.get_final_message()
    fp.fail_next(Failure(status=401, path="messages", message=f"invalid x-api-key {API_KEY}"))
    with pytest.raises(anthropic.AuthenticationError):
        client.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=ASK)
    assert "gen_ai.input.messages" in tel.spans[0].attributes
    exported = "\n".join(span.to_json() for span in tel.spans) + generate_latest(tel.registry).decode()
    for secret in (API_KEY, API_KEY[7:], "Bearer", "fake-org"):
        assert secret not in exported
    agentwatch_anthropic.uninstrument(client)
