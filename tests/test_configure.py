"""configure(): clear errors at configuration time, context values on spans, logs joined to traces."""

from __future__ import annotations

import asyncio
import contextvars
import io
import json
import logging
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from opentelemetry.sdk.trace import TracerProvider

import agentwatch
from agentwatch import names
from agentwatch.testing import Captured


@pytest.mark.parametrize(
    ("kwargs", "names_setting"),
    [
        ({"prometheus_port": 70000}, "prometheus_port"),
        ({"prometheus_port": "9464"}, "prometheus_port"),
        ({"capture_content": "yes"}, "capture_content"),
        ({"max_label_values": 0}, "max_label_values"),
        ({"exporters": ["otlp", "carrier-pigeon"]}, "exporters"),
        ({"prices": "no/such/price-file.yaml"}, "price"),
        ({"redact": "not callable"}, "redact"),
    ],
)
def test_bad_configuration_fails_at_configure_naming_the_setting(
    kwargs: dict[str, object], names_setting: str
) -> None:
    with pytest.raises(agentwatch.ConfigurationError) as info:
        agentwatch.configure(tracer_provider=TracerProvider(), **kwargs)  # type: ignore[arg-type]
    assert names_setting in str(info.value)


def test_port_in_use_is_a_configuration_error() -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(agentwatch.ConfigurationError, match="prometheus_port"):
            agentwatch.configure(tracer_provider=TracerProvider(), prometheus_port=port)


def test_metrics_served_on_loopback_and_shutdown_twice_is_safe() -> None:
    tel = agentwatch.configure(tracer_provider=TracerProvider(), prometheus_port=0)

    @agentwatch.track_inference(provider="openai", model="gpt-4o-mini")
    def ask() -> dict[str, object]:
        return {"model": "gpt-4o-mini", "usage": {"prompt_tokens": 1000, "completion_tokens": 100}}

    ask()
    assert tel.metrics_url is not None
    assert tel.metrics_url.startswith("http://127.0.0.1:")
    assert tel.metrics_server.server_address[0] == "127.0.0.1"
    body = urllib.request.urlopen(tel.metrics_url, timeout=5).read().decode()
    line = next(ln for ln in body.splitlines() if ln.startswith("agentwatch_llm_calls_total{"))
    assert 'model="gpt-4o-mini"' in line
    assert line.endswith(" 1.0")
    agentwatch.shutdown()
    agentwatch.shutdown()
    assert agentwatch.current() is None


def test_context_propagates_to_threads_and_tasks(tel: Captured) -> None:
    @agentwatch.track_tool(name="lookup")
    def lookup(i: int) -> int:
        return i

    async def run_tasks() -> None:
        async def one(i: int) -> None:
            with agentwatch.context(request_id=f"r{i}"):
                await asyncio.sleep(0)
                lookup(i)

        await asyncio.gather(*(one(i) for i in range(20)))

    with agentwatch.context(user_id="u1", session_id="s1"):
        with ThreadPoolExecutor(4) as pool:
            ctx = [contextvars.copy_context() for _ in range(8)]
            list(pool.map(lambda pair: pair[0].run(lookup, pair[1]), zip(ctx, range(8), strict=True)))
        asyncio.run(run_tasks())

    spans = tel.spans_named("execute_tool lookup")
    assert len(spans) == 28
    for s in spans:
        assert s.attributes is not None
        assert s.attributes[names.USER_ID] == "u1"
        assert s.attributes[names.SESSION_ID] == "s1"
    task_requests = sorted(str(s.attributes[names.REQUEST_ID]) for s in spans
                           if s.attributes and names.REQUEST_ID in s.attributes)
    assert task_requests == sorted(f"r{i}" for i in range(20))
    # A plain thread without a copied context does not inherit the values.
    seen: list[object] = []
    with agentwatch.context(user_id="u2"):
        t = threading.Thread(target=lambda: seen.append(lookup(1)))
        t.start()
        t.join()
    last = tel.spans_named("execute_tool lookup")[-1]
    assert last.attributes is not None and names.USER_ID not in last.attributes


def test_json_logs_carry_trace_and_context_ids(tel: Captured) -> None:
    stream = io.StringIO()
    logger = logging.getLogger("agentwatch.test.jsonlogs")
    logger.propagate = False
    handler = agentwatch.configure_json_logging(logger, stream=stream)
    try:
        with agentwatch.context(user_id="u7", request_id="req-9"), agentwatch.stage("analyze_job"):
            logger.info("analysing")
        logger.info("outside")
    finally:
        logger.removeHandler(handler)
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    span = tel.span("analyze_job")
    assert inside["trace_id"] == format(span.context.trace_id, "032x")
    assert inside["span_id"] == format(span.context.span_id, "016x")
    assert inside["user_id"] == "u7"
    assert inside["request_id"] == "req-9"
    assert outside["trace_id"] == ""
    assert "user_id" not in outside
