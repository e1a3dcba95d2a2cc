"""The response headers the real APIs send: request ids, and the rate-limit headers that count
down from the provider's per-minute limits."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .server import FakeProvider
    from .state import State

_REQUEST_ID_HEX = "0123456789abcdef"


def base_headers(state: State, provider: str) -> dict[str, str]:
    """Request id and organisation, as ``provider`` sends them on every answer."""
    if provider == "anthropic":
        return {"request-id": state.new_id("req_011C", 20), "anthropic-organization-id": "fake-org"}
    return {
        "x-request-id": "req_" + state.new_id("", 32, _REQUEST_ID_HEX),
        "openai-version": "2020-10-01",
        "openai-processing-ms": "1",
        "openai-organization": "fake-org",
    }


def rate_headers(fp: FakeProvider, provider: str, tokens: int, exhausted: bool = False) -> dict[str, str]:
    """The rate-limit headers after a request of ``tokens`` (``exhausted``: a 429 answer)."""
    limits = fp.rate_limits[provider]
    requests, used, reset = fp._state.count(provider, tokens)
    left_requests = 0 if exhausted else max(limits.requests - requests, 0)
    left_tokens = 0 if exhausted else max(limits.tokens - used, 0)
    if provider == "anthropic":
        at = (datetime.now(timezone.utc) + timedelta(seconds=reset)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "anthropic-ratelimit-requests-limit": str(limits.requests),
            "anthropic-ratelimit-requests-remaining": str(left_requests),
            "anthropic-ratelimit-requests-reset": at,
            "anthropic-ratelimit-tokens-limit": str(limits.tokens),
            "anthropic-ratelimit-tokens-remaining": str(left_tokens),
            "anthropic-ratelimit-tokens-reset": at,
        }
    return {
        "x-ratelimit-limit-requests": str(limits.requests),
        "x-ratelimit-remaining-requests": str(left_requests),
        "x-ratelimit-reset-requests": f"{reset:.0f}s",
        "x-ratelimit-limit-tokens": str(limits.tokens),
        "x-ratelimit-remaining-tokens": str(left_tokens),
        "x-ratelimit-reset-tokens": f"{reset:.0f}s",
    }
