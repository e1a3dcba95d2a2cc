"""Failures: the SDK's exception reaches the caller unchanged; span status, error.type, attempts,
rate-limit headers and the error metric."""

from __future__ import annotations

import anthropic
import pytest
from an_helpers import attrs, calls

from agentwatch.fake_provider import Failure, FakeProvider
from agentwatch.testing import Captured

ASK = [{"role": "user", "content": "hello"}]


def test_overloaded_then_retried(client: anthropic.Anthropic, fp: FakeProvider, tel: Captured) -> None:
    fp.fail_next(Failure(status=529, retry_after=0.01, path="messages"))
    client.messages.create(model="claude-haiku-4-5", max_tokens=100, messages=ASK)
    a = attrs(tel.span("chat claude-haiku-4-5"))
    assert a["agentwatch.attempts"] == 2
    assert a["http.response.header.anthropic-ratelimit-requests-remaining"] == ("3999",)
    assert calls(tel, "claude-haiku-4-5") == 1


def test_rate_limit_exhausted(client: anthropic.Anthropic, fp: FakeProvider, tel: Captured) -> None:
    fp.fail_next(Failure(status=429, retry_after=0.01, count=3, path="messages"))
    with pytest.raises(anthropic.RateLimitError) as info:
        client.messages.create(model="claude-haiku-4-5", max_tokens=100, messages=ASK)
    assert info.value.body["error"]["type"] == "rate_limit_error"
    span = tel.span("chat claude-haiku-4-5")
    a = attrs(span)
    assert span.status.status_code.name == "ERROR"
    assert a["error.type"] == "RateLimitError"
    assert a["agentwatch.attempts"] == 3
    assert a["http.response.header.retry-after"] == ("1",)
    assert a["http.response.header.anthropic-ratelimit-requests-remaining"] == ("0",)
    assert (
        tel.sample(
            "agentwatch_llm_errors_total",
            provider="anthropic",
            model="claude-haiku-4-5",
            error_type="RateLimitError",
        )
        == 1
    )
    assert calls(tel, "claude-haiku-4-5", "error") == 1


@pytest.mark.parametrize(
    ("failure", "error", "error_type"),
    [
        (Failure(status=529, path="messages"), anthropic.InternalServerError, "OverloadedError"),
        (Failure(status=500, path="messages"), anthropic.InternalServerError, "InternalServerError"),
        (Failure(kind="timeout", delay=2, path="messages"), anthropic.APITimeoutError, "APITimeoutError"),
    ],
)
def test_failures(
    client: anthropic.Anthropic,
    fp: FakeProvider,
    tel: Captured,
    failure: Failure,
    error: type,
    error_type: str,
) -> None:
    fp.fail_next(failure)
    with pytest.raises(error):
        client.with_options(max_retries=0, timeout=0.3).messages.create(
            model="claude-haiku-4-5", max_tokens=100, messages=ASK
        )
    span = tel.span("chat claude-haiku-4-5")
    assert span.status.status_code.name == "ERROR"
    assert attrs(span)["error.type"] == error_type
    assert (
        tel.sample(
            "agentwatch_llm_errors_total",
            provider="anthropic",
            model="claude-haiku-4-5",
            error_type=error_type,
        )
        == 1
    )


def test_stream_helper_rate_limited(client: anthropic.Anthropic, fp: FakeProvider, tel: Captured) -> None:
    fp.fail_next(Failure(status=429, retry_after=0.01, count=3, path="messages"))
    with (
        pytest.raises(anthropic.RateLimitError),
        client.messages.stream(model="claude-haiku-4-5", max_tokens=100, messages=ASK),
    ):
        pass
    assert attrs(tel.span("chat claude-haiku-4-5"))["error.type"] == "RateLimitError"
