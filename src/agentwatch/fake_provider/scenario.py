"""What a test scripts on the fake provider, and what it reads back: latency, scripted failures,
rate limits, and the log of requests received."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

FailureKind = Literal["http", "timeout", "malformed", "cut", "disconnect"]

@dataclass(frozen=True)
class Latency:
    """How slow the fake model is.

    ``ttft`` is the time before the first token (a plain reply waits ``ttft`` plus the generation
    time before answering; a stream sends its headers at once and its first event after ``ttft``);
    ``per_token`` is the generation time of one output token; ``jitter`` scales every delay by a
    factor drawn uniformly from ``[1 - jitter, 1 + jitter]`` (seeded, so runs repeat).
    """

    ttft: float = 0.0
    per_token: float = 0.0
    jitter: float = 0.0


LatencyPolicy = Latency | Callable[[str, str], Latency]
"""A fixed :class:`Latency`, or a function ``(provider, model) -> Latency``."""


@dataclass
class Failure:
    """A scripted failure for the next ``count`` requests whose endpoint matches ``path``.

    ``kind``:
      ``"http"``        reply with ``status`` (429, 500, 503, 529 ...) and the provider's error body;
                        ``retry_after`` (seconds) sets ``retry-after`` and ``retry-after-ms``.
      ``"timeout"``     hold the request for ``delay`` seconds, then drop the connection unanswered
                        (a client with a shorter timeout raises its timeout error).
      ``"malformed"``   answer 200 with a body (or a stream event) that is not valid JSON.
      ``"cut"``         start the reply, send ``after_events`` stream events (for a plain request:
                        half the body), then drop the connection.
      ``"disconnect"``  drop the connection without answering.

    ``path``: ``None`` (any request), an endpoint name (``"chat"``, ``"responses"``,
    ``"embeddings"``, ``"messages"``, ``"count_tokens"``), a provider (``"openai"``,
    ``"anthropic"``) or a URL path (``"/v1/chat/completions"``).
    """

    status: int = 500
    kind: FailureKind = "http"
    retry_after: float | None = None
    count: int = 1
    path: str | None = None
    message: str | None = None
    delay: float = 30.0
    after_events: int = 3

    def __post_init__(self) -> None:
        if self.kind not in ("http", "timeout", "malformed", "cut", "disconnect"):
            raise ValueError(
                f"Failure.kind must be http, timeout, malformed, cut or disconnect, not {self.kind!r}"
            )
        if self.count < 1:
            raise ValueError("Failure.count must be at least 1")

    def matches(self, provider: str, endpoint: str, path: str) -> bool:
        return self.path is None or self.path in (provider, endpoint, path)

    @property
    def label(self) -> str:
        return str(self.status) if self.kind == "http" else self.kind


@dataclass(frozen=True)
class RateLimits:
    """Per-minute limits the rate-limit headers count down from."""

    requests: int = 10_000
    tokens: int = 30_000_000


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received, and how it answered."""

    method: str
    path: str
    provider: str
    endpoint: str
    headers: Mapping[str, str]
    body: Any
    status: int
    stream: bool
    failure: str | None = None
    received_at: float = field(default=0.0, compare=False)

    @property
    def model(self) -> str | None:
        model = self.body.get("model") if isinstance(self.body, Mapping) else None
        return model if isinstance(model, str) else None
