"""Scripted failures, latency, the request log, determinism and the command line."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time

import pytest

from agentwatch.fake_provider import Failure, FakeProvider, Latency

from ._http import post

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}
MESSAGE = {"model": "claude-haiku-4-5", "max_tokens": 100, "messages": [{"role": "user", "content": "hello"}]}


def test_rate_limit_failure_counts_down_and_matches_path(fp: FakeProvider) -> None:
    fp.fail_next(Failure(status=429, retry_after=1.5, count=2, path="chat"))
    assert post(fp, "/v1/embeddings", {"model": "text-embedding-3-small", "input": "x"}).status == 200
    first = post(fp, "/v1/chat/completions", CHAT)
    assert first.status == 429
    assert first.headers["retry-after"] == "2"
    assert first.headers["retry-after-ms"] == "1500"
    assert first.headers["x-ratelimit-remaining-requests"] == "0"
    assert first.json()["error"]["code"] == "rate_limit_exceeded"
    assert post(fp, "/v1/chat/completions", CHAT).status == 429
    assert post(fp, "/v1/chat/completions", CHAT).status == 200
    log = fp.requests
    assert [(r.endpoint, r.status, r.failure) for r in log] == [
        ("embeddings", 200, None),
        ("chat", 429, "429"),
        ("chat", 429, "429"),
        ("chat", 200, None),
    ]
    assert log[1].body == CHAT
    assert log[1].headers["authorization"] == "Bearer test-key"


def test_anthropic_error_shapes(fp: FakeProvider) -> None:
    fp.fail_next(Failure(status=529, path="anthropic"), Failure(status=429, retry_after=3, path="messages"))
    overloaded = post(fp, "/v1/messages", MESSAGE)
    assert overloaded.status == 529
    assert overloaded.json()["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    limited = post(fp, "/v1/messages", MESSAGE)
    assert limited.status == 429 and limited.headers["retry-after"] == "3"
    assert limited.headers["anthropic-ratelimit-requests-remaining"] == "0"
    ok = post(fp, "/v1/messages", MESSAGE)
    assert ok.status == 200
    # the window counts answered and rate-limited requests (not the overloaded one)
    assert int(ok.headers["anthropic-ratelimit-requests-remaining"]) == 4_000 - 2


def test_malformed_and_dropped_replies(fp: FakeProvider) -> None:
    fp.fail_next(Failure(kind="malformed"))
    bad = post(fp, "/v1/chat/completions", CHAT)
    assert bad.status == 200
    with pytest.raises(json.JSONDecodeError):
        bad.json()
    fp.fail_next(Failure(kind="disconnect"))
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        post(fp, "/v1/chat/completions", CHAT)


def test_stream_cut_after_some_events(fp: FakeProvider) -> None:
    fp.fail_next(Failure(kind="cut", after_events=2, path="chat"))
    conn = http.client.HTTPConnection(fp.host, fp.port, timeout=5)
    conn.request(
        "POST",
        "/v1/chat/completions",
        body=json.dumps({**CHAT, "stream": True}),
        headers={"authorization": "Bearer k", "content-type": "application/json"},
    )
    response = conn.getresponse()
    assert response.status == 200
    with pytest.raises(http.client.IncompleteRead) as info:
        response.read()
    received = info.value.partial.decode()
    assert received.count("data: ") == 2
    assert "[DONE]" not in received


def test_timeout_holds_the_request(fp: FakeProvider) -> None:
    fp.fail_next(Failure(kind="timeout", delay=5))
    conn = http.client.HTTPConnection(fp.host, fp.port, timeout=0.2)
    conn.request(
        "POST",
        "/v1/chat/completions",
        body=json.dumps(CHAT),
        headers={"authorization": "Bearer k", "content-type": "application/json"},
    )
    with pytest.raises(TimeoutError):
        conn.getresponse()
    conn.close()
    assert post(fp, "/v1/chat/completions", CHAT).status == 200


def test_latency_ttft_and_per_token() -> None:
    with FakeProvider(latency=Latency(ttft=0.15, per_token=0.002)) as fp:
        start = time.perf_counter()
        body = post(fp, "/v1/chat/completions", CHAT).json()
        elapsed = time.perf_counter() - start
        expected = 0.15 + 0.002 * body["usage"]["completion_tokens"]
        assert expected <= elapsed < expected + 0.25


def test_latency_per_model() -> None:
    def policy(provider: str, model: str) -> Latency:
        return Latency(ttft=0.2) if model.startswith("claude") else Latency()

    with FakeProvider(latency=policy) as fp:
        start = time.perf_counter()
        post(fp, "/v1/chat/completions", CHAT)
        fast = time.perf_counter() - start
        start = time.perf_counter()
        post(fp, "/v1/messages", MESSAGE)
        slow = time.perf_counter() - start
    assert fast < 0.15
    assert slow >= 0.2


def _stable(body: dict) -> dict:
    return {k: v for k, v in body.items() if k not in ("created", "created_at")}


def test_same_seed_same_answers() -> None:
    tools = [{"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}}]
    requests = [CHAT, {**CHAT, "tools": tools}, {**CHAT, "model": "o3"}]
    answers = []
    for _ in range(2):
        with FakeProvider(seed=3) as fp:
            answers.append([_stable(post(fp, "/v1/chat/completions", r).json()) for r in requests])
    assert answers[0] == answers[1]
    with FakeProvider(seed=4) as fp:
        other = [_stable(post(fp, "/v1/chat/completions", r).json()) for r in requests]
    assert [a["id"] for a in other] != [a["id"] for a in answers[0]]


def test_concurrent_requests() -> None:
    from concurrent.futures import ThreadPoolExecutor

    with FakeProvider(latency=Latency(ttft=0.1)) as fp:
        start = time.perf_counter()
        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(lambda _: post(fp, "/v1/chat/completions", CHAT).status, range(16)))
        elapsed = time.perf_counter() - start
    assert statuses == [200] * 16
    assert elapsed < 1.0  # served in parallel, not one after another (1.6 s)


def test_clear_and_stop() -> None:
    fp = FakeProvider().start()
    fp.fail_next(Failure(status=500))
    fp.clear()
    assert post(fp, "/v1/chat/completions", CHAT).status == 200
    assert len(fp.requests) == 1
    fp.stop()
    fp.stop()
    with pytest.raises(RuntimeError):
        _ = fp.port


def test_failure_validation() -> None:
    with pytest.raises(ValueError, match="kind"):
        Failure(kind="explode")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="count"):
        Failure(count=0)


def test_command_line_serves_until_stopped() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "agentwatch.fake_provider", "--port", "0", "--seed", "1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("fake provider listening on http://127.0.0.1:")
        port = int(line.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/health")
        assert conn.getresponse().read() == b"ok\n"
        conn.close()
    finally:
        process.terminate()
        process.wait(timeout=5)
