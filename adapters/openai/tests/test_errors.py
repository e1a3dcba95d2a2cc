"""Failures: the SDK's exception reaches the caller unchanged; the span and metrics say what failed,
how many attempts the SDK made and what rate-limit headers the provider sent."""

from __future__ import annotations

import openai
import pytest
from oa_helpers import attrs, calls

from agentwatch.fake_provider import Failure, FakeProvider
from agentwatch.testing import Captured

USER = [{"role": "user", "content": "hello"}]


def test_rate_limited_then_retried(client: openai.OpenAI, fp: FakeProvider, tel: Captured) -> None:
    fp.fail_next(Failure(status=429, retry_after=0.01, count=2, path="chat"))
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert len(fp.requests_to("chat")) == 3
    span = tel.span("chat gpt-4o-mini")
    a = attrs(span)
    assert span.status.status_code.name == "UNSET"
    assert a["agentwatch.attempts"] == 3
    assert a["gen_ai.usage.output_tokens"] == completion.usage.completion_tokens
    assert "http.response.header.retry-after" not in a  # the headers of the answer that succeeded
    assert a["http.response.header.x-ratelimit-remaining-requests"] == ("9997",)
    assert a["http.response.header.x-request-id"] == (completion._request_id,)
    assert (
        tel.sample(
            "agentwatch_llm_errors_total", provider="openai", model="gpt-4o-mini", error_type="RateLimitError"
        )
        is None
    )


def test_rate_limit_exhausted(client: openai.OpenAI, fp: FakeProvider, tel: Captured) -> None:
    fp.fail_next(Failure(status=429, retry_after=0.01, count=3, path="chat"))
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert info.value.status_code == 429
    assert info.value.body["code"] == "rate_limit_exceeded"  # the SDK's own exception, untouched
    span = tel.span("chat gpt-4o-mini")
    a = attrs(span)
    assert span.status.status_code.name == "ERROR"
    assert a["error.type"] == "RateLimitError"
    assert a["agentwatch.attempts"] == 3
    assert a["http.response.header.retry-after"] == ("1",)
    assert a["http.response.header.x-ratelimit-remaining-requests"] == ("0",)
    assert a["agentwatch.usage.reported"] is False
    assert (
        tel.sample(
            "agentwatch_llm_errors_total", provider="openai", model="gpt-4o-mini", error_type="RateLimitError"
        )
        == 1
    )
    assert calls(tel, "gpt-4o-mini", "error") == 1


@pytest.mark.parametrize(
    ("failure", "error", "error_type"),
    [
        (Failure(status=500, path="chat"), openai.InternalServerError, "InternalServerError"),
        (Failure(kind="timeout", delay=2, path="chat"), openai.APITimeoutError, "APITimeoutError"),
        (Failure(kind="disconnect", path="chat"), openai.APIConnectionError, "APIConnectionError"),
    ],
)
def test_failures(
    client: openai.OpenAI, fp: FakeProvider, tel: Captured, failure: Failure, error: type, error_type: str
) -> None:
    fp.fail_next(failure)
    with pytest.raises(error):
        client.with_options(max_retries=0, timeout=0.3).chat.completions.create(model="gpt-4o", messages=USER)
    span = tel.span("chat gpt-4o")
    assert span.status.status_code.name == "ERROR"
    assert attrs(span)["error.type"] == error_type
    assert "agentwatch.attempts" not in attrs(span)
    assert (
        tel.sample("agentwatch_llm_errors_total", provider="openai", model="gpt-4o", error_type=error_type)
        == 1
    )


def test_bad_request(client: openai.OpenAI, tel: Captured) -> None:
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-4o", messages=[])
    assert attrs(tel.span("chat gpt-4o"))["error.type"] == "BadRequestError"


def test_malformed_answer(client: openai.OpenAI, fp: FakeProvider, tel: Captured) -> None:
    fp.fail_next(Failure(kind="malformed", path="embeddings"))
    with pytest.raises(Exception) as info:
        client.embeddings.create(model="text-embedding-3-small", input="x")
    assert attrs(tel.span("embeddings text-embedding-3-small"))["error.type"] == type(info.value).__qualname__
