"""Security: no content leaves the process unless asked for, secrets never do, /metrics stays on
loopback, the price file is data only.

Every check reads what really leaves: the protobuf payloads a real OTLP/HTTP endpoint received
and the text a real /metrics endpoint served.
"""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

import agentwatch
from agentwatch.records import Inference
from agentwatch.testing import capture

from .conftest import OTLPReceiver

CONTENT = {
    "prompt": "PROMPT-TEXT-aurora-7731",
    "system": "SYSTEM-TEXT-basalt-1190",
    "completion": "COMPLETION-TEXT-cobalt-4402",
    "tool_argument": "TOOL-ARGUMENT-dune-5518",
    "tool_result": "TOOL-RESULT-ember-6627",
    "query": "QUERY-TEXT-fjord-3345",
    "document": "DOCUMENT-TEXT-glacier-9081",
}
SECRETS = {
    "openai_key": "sk-proj-Q7x9LmN2pR4tV6wY8zA1bC3dE5fG7hJ9",
    "anthropic_key": "sk-ant-api03-Zk3Lm5Np7Qr9St1Uv3Wx5Yz7Ab9Cd1Ef",
    "bearer": "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2Vu.Zm9vYmFyYmF6",
    "x_api_key": "xk-live-4f9a8b7c6d5e4f3a2b1c",
    "db_password": "hunter2-Correct-Horse",
    "aws": "AKIAIOSFODNN7EXAMPLE",
}


def workload() -> None:
    """Every kind of content agentwatch could see, through the decorators and the recorder API."""
    recorder = agentwatch.current().recorder  # type: ignore[union-attr]
    call = recorder.start(Inference(provider="openai", model="gpt-4o", input_messages=[
        {"role": "system", "content": CONTENT["system"]}, {"role": "user", "content": CONTENT["prompt"]}],
        system_instructions=CONTENT["system"]))
    call.set_output([{"role": "assistant", "content": CONTENT["completion"]}])
    call.record_usage(input_tokens=12, output_tokens=3)
    recorder.finish(call)

    @agentwatch.track_tool(name="search_jobs")
    def search_jobs(text: str, *, auth: dict[str, str]) -> str:
        return CONTENT["tool_result"]

    @agentwatch.track_vector_search(db="pgvector", collection="jobs", query_arg="query")
    def search(query: str, dsn: str) -> list[dict[str, Any]]:
        return [{"id": "job-1", "score": 0.9, "content": CONTENT["document"]}]

    @agentwatch.track_inference(provider="openai", model="gpt-4o")
    def ask(prompt: str) -> dict[str, Any]:
        agentwatch.current_call().set_output(CONTENT["completion"])
        return {"model": "gpt-4o-2024-08-06", "usage": {"prompt_tokens": 5, "completion_tokens": 2},
                "choices": [{"message": {"content": CONTENT["completion"]}, "finish_reason": "stop"}]}

    with agentwatch.stage("answer"):
        search_jobs(CONTENT["tool_argument"], auth={
            "Authorization": f"Bearer {SECRETS['bearer']}", "x-api-key": SECRETS["x_api_key"],
            "api_key": SECRETS["openai_key"], "note": f"key {SECRETS['anthropic_key']} aws {SECRETS['aws']}"})
        search(CONTENT["query"], dsn=f"postgresql://app:{SECRETS['db_password']}@db.internal:5432/jobs")
        ask(CONTENT["prompt"])
        current = agentwatch.current_call()
        # Attributes named like credentials are dropped; credentials inside text are scrubbed.
        current.set_attribute("http.request.header.authorization", f"Bearer {SECRETS['bearer']}")
        current.set_attribute("http.request.header.x-api-key", SECRETS["x_api_key"])
        current.set_attribute("app.database.url", f"postgres://app:{SECRETS['db_password']}@db/jobs")
        current.set_attribute("app.note", f"called with {SECRETS['openai_key']}")
    with pytest.raises(PermissionError), agentwatch.stage("login"):
        raise PermissionError(f"bad key {SECRETS['openai_key']} for postgresql://u:{SECRETS['db_password']}@h")


def exported(otlp: OTLPReceiver, tel: agentwatch.Telemetry) -> tuple[bytes, str]:
    assert tel.force_flush(10_000)
    with urllib.request.urlopen(tel.metrics_url, timeout=5) as response:  # type: ignore[arg-type]
        metrics = response.read().decode()
    return otlp.raw(), metrics


def configure(**kwargs: Any) -> agentwatch.Telemetry:
    return agentwatch.configure(exporters=["otlp"], prometheus_port=0,
                                prometheus_registry=CollectorRegistry(auto_describe=True), **kwargs)


def test_content_capture_is_off_by_default(otlp_env: OTLPReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    tel = configure()
    assert tel.recorder.capture_content is False
    workload()
    payload, metrics = exported(otlp_env, tel)
    assert len(otlp_env.spans) == 6  # a model call, tool, search, decorated model call, two stages
    for kind, text in CONTENT.items():
        assert text.encode() not in payload, kind
        assert text not in metrics, kind
    for kind, secret in SECRETS.items():
        assert secret.encode() not in payload, kind
        assert secret not in metrics, kind
    assert b"search_jobs" in payload and b"gen_ai.usage.input_tokens" in payload  # the telemetry itself is there


def test_capture_on_runs_the_redaction_hook_and_the_size_limit(otlp_env: OTLPReceiver) -> None:
    seen: list[str] = []

    def redact(key: str, text: str) -> str | None:
        seen.append(key)
        if key == "gen_ai.system_instructions":
            return None  # drop it entirely
        return text.replace("aurora", "<name>").replace("fjord", "<place>")

    tel = configure(capture_content=True, redact=redact, content_max_chars=400)
    workload()

    @agentwatch.track_tool(name="huge")
    def huge(text: str) -> str:
        return text

    huge("z" * 100_000)
    payload, metrics = exported(otlp_env, tel)
    assert b"PROMPT-TEXT-<name>-7731" in payload
    assert b"QUERY-TEXT-<place>-3345" in payload
    assert CONTENT["prompt"].encode() not in payload and CONTENT["query"].encode() not in payload
    assert CONTENT["completion"].encode() in payload and CONTENT["document"].encode() in payload
    # Dropped by the hook: the system instructions attribute (the system text still appears in the
    # redacted input messages, which the hook let through).
    assert b"gen_ai.system_instructions" not in payload
    assert {"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.tool.call.arguments",
            "gen_ai.tool.call.result", "gen_ai.retrieval.query.text"} <= set(seen)
    # Size limit: the 100,000-character argument and result were cut to 400 characters.
    assert b"z" * 401 not in payload
    assert b"z" * 300 in payload and b"[truncated]" in payload
    for text in CONTENT.values():
        assert text not in metrics


def test_secrets_are_never_recorded_even_with_capture_on(otlp_env: OTLPReceiver) -> None:
    tel = configure(capture_content=True)
    workload()
    payload, metrics = exported(otlp_env, tel)
    assert CONTENT["tool_argument"].encode() in payload  # capture is on: the content is there ...
    for kind, secret in SECRETS.items():  # ... the credentials are not
        assert secret.encode() not in payload, kind
        assert secret not in metrics, kind
    assert b"[REDACTED]" in payload
    assert b"http.request.header.authorization" not in payload
    assert b"http.request.header.x-api-key" not in payload
    assert b"postgres://app:[REDACTED]@db/jobs" in payload


def test_a_failing_redaction_hook_drops_the_content_and_is_counted(otlp_env: OTLPReceiver) -> None:
    def broken(key: str, text: str) -> str:
        raise RuntimeError("hook bug")

    tel = configure(capture_content=True, redact=broken)
    workload()
    payload, _ = exported(otlp_env, tel)
    for kind, text in CONTENT.items():
        assert text.encode() not in payload, kind
    assert tel.registry.get_sample_value("agentwatch_internal_errors_total", {"component": "redact"}) > 0


def test_metrics_endpoint_binds_loopback_only() -> None:
    with capture(prometheus_port=0) as tel:
        server = tel.telemetry.metrics_server
        host, port = server.server_address[:2]
        assert host == "127.0.0.1"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            assert b"agentwatch_internal_errors_total" in response.read() or response.status == 200
        outside = _non_loopback_address()
        if outside is None:
            pytest.skip("no non-loopback interface on this machine")
        with socket.socket() as s:
            s.settimeout(2)
            assert s.connect_ex((outside, port)) != 0  # refused from any other interface


def _non_loopback_address() -> str | None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent for UDP connect
            address = str(s.getsockname()[0])
    except OSError:
        return None
    return None if address.startswith("127.") else address


@pytest.mark.parametrize("payload", [
    "!!python/object/apply:os.system ['touch {marker}']",
    "models: !!python/object/apply:os.system ['touch {marker}']",
    "name: !!python/name:os.system\nmodels: []",
    "models:\n  - model: x\n    input: !!python/object/new:subprocess.Popen [['touch', '{marker}']]\n    output: 1",
])
def test_price_file_is_data_only(tmp_path: Path, payload: str) -> None:
    marker = tmp_path / "executed"
    prices = tmp_path / "prices.yaml"
    prices.write_text(payload.format(marker=marker))
    with pytest.raises(agentwatch.ConfigurationError, match="prices file"):
        agentwatch.configure(prices=str(prices), exporters=["none"])
    assert not marker.exists()
