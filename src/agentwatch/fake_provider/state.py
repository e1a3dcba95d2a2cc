"""Shared pieces of the fake provider: the reply type, server state (ids, caches), error bodies."""

from __future__ import annotations

import json
import re
import string
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .responses import rng_for
from .tokens import ANTHROPIC_TTL_S, CachePlan, PromptUnit, anthropic_cache_plan, canonical_json, prefix_keys

SSEEvent = tuple["str | None", str]
"""One Server-Sent Event: (``event:`` name or None, ``data:`` text)."""


class BadRequest(Exception):
    """Raised by a handler for a request the real API would reject with HTTP 400."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass
class Reply:
    """What a handler answers: a JSON body or a list of SSE events."""

    status: int = 200
    body: Any = None
    events: list[SSEEvent] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    input_tokens: int = 0
    output_tokens: int = 0
    openai_done: bool = False
    """Stream ends with ``data: [DONE]`` (OpenAI chat); it counts as an event for cuts."""


_WORDS = re.compile(r"\s*\S+\s*|\s+")
_ALNUM = string.ascii_letters + string.digits
_MAX_CACHE_ENTRIES = 50_000
RATE_WINDOW_S = 60.0
"""Rate-limit counters reset this often (the headers report what is left in the window)."""


class State:
    """Mutable state of one server: id generator, prompt caches, rate-limit counters."""

    def __init__(self, seed: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.seed = seed
        self.lock = threading.Lock()
        self._ids = rng_for(seed, "ids")
        self._clock = clock
        self._openai_prefixes: OrderedDict[str, None] = OrderedDict()
        self._anthropic_cache: dict[str, tuple[float, str]] = {}
        self._window: dict[str, tuple[float, int, int]] = {}

    def new_id(self, prefix: str, length: int = 24, alphabet: str = _ALNUM) -> str:
        with self.lock:
            return prefix + "".join(self._ids.choice(alphabet) for _ in range(length))

    def reset_cache(self) -> None:
        with self.lock:
            self._openai_prefixes.clear()
            self._anthropic_cache.clear()

    def openai_cached_prefix(self, namespace: str, items: Sequence[Any], tools: Any) -> int:
        """Number of leading items seen before (same namespace); remembers all prefixes."""
        keys = prefix_keys(namespace + canonical_json(tools or []), (canonical_json(i) for i in items))
        with self.lock:
            seen = 0
            for k, key in enumerate(keys, start=1):
                if key in self._openai_prefixes:
                    seen = k
            for key in keys:
                self._openai_prefixes[key] = None
                self._openai_prefixes.move_to_end(key)
            while len(self._openai_prefixes) > _MAX_CACHE_ENTRIES:
                self._openai_prefixes.popitem(last=False)
        return seen

    def anthropic_cache(self, units: Sequence[PromptUnit], model: str) -> CachePlan:
        """Plan and apply Anthropic prompt caching (see :func:`tokens.anthropic_cache_plan`)."""
        with self.lock:
            now = self._clock()
            live = {k: v for k, v in self._anthropic_cache.items() if v[0] > now}
            self._anthropic_cache = live
            plan = anthropic_cache_plan(units, model, live)
            for key in plan.reads:
                ttl = live[key][1]
                self._anthropic_cache[key] = (now + ANTHROPIC_TTL_S[ttl], ttl)
            for key, ttl in plan.writes:
                self._anthropic_cache[key] = (now + ANTHROPIC_TTL_S[ttl], ttl)
        return plan

    def count(self, provider: str, tokens: int) -> tuple[int, int, float]:
        """Count one served request in the provider's rate-limit window (``RATE_WINDOW_S``).

        Returns (requests, tokens) used in the window so far and the seconds until it resets.
        """
        with self.lock:
            now = self._clock()
            start, requests, used = self._window.get(provider, (now, 0, 0))
            if now - start >= RATE_WINDOW_S:
                start, requests, used = now, 0, 0
            requests, used = requests + 1, used + tokens
            self._window[provider] = (start, requests, used)
            return requests, used, max(start + RATE_WINDOW_S - now, 0.0)


# --- error bodies -------------------------------------------------------------------------------

_OPENAI_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("permission_error", None, "You are not allowed to access this resource."),
    404: ("invalid_request_error", None, "The requested resource does not exist."),
    409: ("invalid_request_error", None, "Conflict."),
    422: ("invalid_request_error", None, "Unprocessable entity."),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for requests per min (RPM): Limit 500, Used 500, Requested 1. "
        "Please try again in 120ms.",
    ),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The server is overloaded or not ready yet."),
}

_ANTHROPIC_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "The requested resource could not be found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
    500: ("api_error", "Internal server error"),
    504: ("timeout_error", "Request timed out"),
    529: ("overloaded_error", "Overloaded"),
}


def openai_error_body(status: int, message: str | None = None, param: str | None = None) -> dict[str, Any]:
    kind, code, default = _OPENAI_ERRORS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None, f"HTTP {status}")
    )
    return {"error": {"message": message or default, "type": kind, "param": param, "code": code}}


def anthropic_error_body(
    status: int, message: str | None = None, request_id: str | None = None
) -> dict[str, Any]:
    kind, default = _ANTHROPIC_ERRORS.get(
        status, ("api_error" if status >= 500 else "invalid_request_error", f"HTTP {status}")
    )
    body: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message or default}}
    if request_id:
        body["request_id"] = request_id
    return body


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def split_text(text: str, size: int = 12) -> list[str]:
    """Split text into stream pieces of about ``size`` characters, at word ends when possible."""
    pieces: list[str] = []
    current = ""
    for word in _WORDS.findall(text):
        if current and len(current) + len(word) > size:
            pieces.append(current)
            current = ""
        current += word
    if current:
        pieces.append(current)
    return pieces or [""]


def split_fixed(text: str, size: int = 16) -> list[str]:
    """Split text into pieces of ``size`` characters (tool-call arguments)."""
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]
