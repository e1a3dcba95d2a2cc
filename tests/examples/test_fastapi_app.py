from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from ._run import EXAMPLES, example_env, spans


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, headers: dict[str, str] | None = None, body: dict[str, str] | None = None) -> tuple[dict[str, str], str]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=30) as response:  # follows /metrics -> /metrics/
        return dict(response.headers), response.read().decode()


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_and_request_context(tmp_path: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, str(EXAMPLES / "fastapi_app" / "app.py"), "--port", str(port)],
                            cwd=tmp_path, env=example_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _get(f"{base}/metrics")
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.stdout else ""
                time.sleep(0.1)
        answers = []
        for user, question in [("u-1", "Which skills should a data engineer list first?"),
                               ("u-2", "How long should a cover letter be?"), ("u-1", "Is Kafka worth learning?")]:
            headers, text = _get(f"{base}/ask", {"x-user-id": user}, {"question": question})
            answers.append((user, headers["x-request-id"], json.loads(text)))
        _, metrics = _get(f"{base}/metrics")
    finally:
        proc.send_signal(signal.SIGINT)  # uvicorn shuts down: the lifespan flushes the spans
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out

    samples = _samples(metrics)
    chat = frozenset({("provider", "openai"), ("model", "gpt-4o-mini"), ("operation", "chat")})
    assert samples[("agentwatch_llm_calls_total", chat | {("outcome", "ok")})] == 3
    assert samples[("agentwatch_llm_tokens_total", chat | {("type", "input")})] == sum(a["input_tokens"] for *_, a in answers)
    assert samples[("agentwatch_llm_tokens_total", chat | {("type", "output")})] == sum(a["output_tokens"] for *_, a in answers)
    stage = frozenset({("graph", "fastapi-example"), ("stage", "answer")})
    assert samples[("agentwatch_stage_runs_total", stage | {("outcome", "ok")})] == 3
    assert not any("u-1" in str(labels) for _, labels in samples)  # users are never metric labels

    # every span of a request carries its user and request id
    found = list(spans(tmp_path / ".agentwatch" / "spans.jsonl"))
    chats = {s["attributes"]["agentwatch.request.id"]: s for s in found if s["name"] == "chat gpt-4o-mini"}
    stages = {s["attributes"]["agentwatch.request.id"]: s for s in found if s["name"] == "answer"}
    assert len(chats) == len(stages) == 3
    for user, request_id, answer in answers:
        assert chats[request_id]["attributes"]["user.id"] == user
        assert stages[request_id]["attributes"]["user.id"] == user
        assert chats[request_id]["parentSpanId"] == stages[request_id]["spanId"]
        assert int(chats[request_id]["attributes"]["gen_ai.usage.input_tokens"]) == answer["input_tokens"]
