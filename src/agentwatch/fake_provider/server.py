"""The HTTP server: routing, latency, scripted failures, rate-limit headers, the request log."""

from __future__ import annotations

import json
import math
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from . import anthropic_api, openai_api, tokens
from .headers import base_headers, rate_headers
from .responses import rng_for
from .scenario import Failure, Latency, LatencyPolicy, RateLimits, RecordedRequest
from .state import BadRequest, Reply, SSEEvent, State, anthropic_error_body, dumps, openai_error_body

_ROUTES: dict[str, tuple[str, str]] = {
    "/v1/chat/completions": ("openai", "chat"),
    "/v1/responses": ("openai", "responses"),
    "/v1/embeddings": ("openai", "embeddings"),
    "/v1/messages": ("anthropic", "messages"),
    "/v1/messages/count_tokens": ("anthropic", "count_tokens"),
}
_PROVIDERS = ("openai", "anthropic")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], provider: FakeProvider) -> None:
        self.provider = provider
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (a timeout, a closed stream) is normal here: no traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            return
        super().handle_error(request, client_address)


class FakeProvider:
    """A local server speaking the OpenAI and Anthropic wire formats, for tests, demos and benchmarks.

    Use it as a context manager (or call :meth:`start` / :meth:`stop`)::

        with FakeProvider(seed=0) as fp:
            client = openai.OpenAI(base_url=fp.openai_base_url, api_key="test")
            fp.fail_next(Failure(status=429, retry_after=0.01, path="chat"))

    Answers are a pure function of the request and ``seed``; usage follows the documented rules in
    :mod:`agentwatch.fake_provider.tokens`. Any non-empty API key is accepted.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: LatencyPolicy | None = None,
        rate_limits: Mapping[str, RateLimits] | None = None,
        max_recorded: int = 10_000,
    ) -> None:
        self.seed = seed
        self.latency: LatencyPolicy = latency if latency is not None else Latency()
        self.rate_limits = {
            "openai": RateLimits(),
            "anthropic": RateLimits(requests=4_000, tokens=2_000_000),
            **(rate_limits or {}),
        }
        self._host = host
        self._port = port
        self._state = State(seed)
        self._failures: list[list[Any]] = []  # [Failure, remaining]
        self._lock = threading.Lock()
        self._requests: deque[RecordedRequest] = deque(maxlen=max_recorded)
        self._jitter = rng_for(seed, "latency")
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._sockets: set[socket.socket] = set()

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> FakeProvider:
        if self._server is not None:
            return self
        self._stopping.clear()
        threading.Thread(target=_warm_up, name="fake-provider-warm-up", daemon=True).start()
        self._server = _Server((self._host, self._port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-provider",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:  # idle keep-alive connections
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- addresses --------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the fake provider is not running")
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return self._host

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """For ``openai.OpenAI(base_url=...)`` (or ``OPENAI_BASE_URL``)."""
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        """For ``anthropic.Anthropic(base_url=...)`` (or ``ANTHROPIC_BASE_URL``)."""
        return self.url

    # --- scripting and inspection -----------------------------------------------------------

    def fail_next(self, *failures: Failure) -> None:
        """Queue failures; each applies to its next ``count`` matching requests, in queue order."""
        with self._lock:
            self._failures.extend([f, f.count] for f in failures)

    def clear(self) -> None:
        """Forget queued failures, recorded requests and prompt caches."""
        with self._lock:
            self._failures.clear()
            self._requests.clear()
        self._state.reset_cache()

    @property
    def requests(self) -> list[RecordedRequest]:
        """What the server received so far (oldest first)."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, endpoint: str) -> list[RecordedRequest]:
        """The recorded requests to one endpoint (``"chat"``, ``"messages"`` ...)."""
        return [r for r in self.requests if endpoint in (r.endpoint, r.provider, r.path)]

    # --- internals used by the handler --------------------------------------------------------

    def _take_failure(self, provider: str, endpoint: str, path: str) -> Failure | None:
        with self._lock:
            for entry in self._failures:
                failure: Failure = entry[0]
                if failure.matches(provider, endpoint, path):
                    entry[1] -= 1
                    if entry[1] <= 0:
                        self._failures.remove(entry)
                    return failure
        return None

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _latency_for(self, provider: str, model: str) -> Latency:
        policy = self.latency
        return policy if isinstance(policy, Latency) else policy(provider, model)

    def _scaled(self, seconds: float, jitter: float) -> float:
        if seconds <= 0:
            return 0.0
        if jitter <= 0:
            return seconds
        with self._lock:
            factor = 1.0 + self._jitter.uniform(-jitter, jitter)
        return seconds * factor

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless the server stops first; True when the server is stopping."""
        if seconds <= 0:
            return self._stopping.is_set()
        return self._stopping.wait(seconds)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stall
    server: _Server
    server_version = "fake-provider"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        provider = self.server.provider
        with provider._lock:
            provider._sockets.add(self.connection)

    def finish(self) -> None:
        provider = self.server.provider
        with provider._lock:
            provider._sockets.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        return

    # --- routing ----------------------------------------------------------------------------

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path in ("", "/health"):
            self._send_bytes(200, b"ok\n", {"content-type": "text/plain"})
            return
        if path == "/v1/models":
            provider = "anthropic" if "anthropic-version" in self.headers else "openai"
            state = self.server.provider._state
            reply = anthropic_api.models(state) if provider == "anthropic" else openai_api.models(state)
            self._send_json(provider, reply.status, reply.body, base_headers(state, provider))
            return
        self._not_found("openai")

    def do_POST(self) -> None:
        fp = self.server.provider
        path = self.path.split("?", 1)[0].rstrip("/")
        received = time.time()
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        route = _ROUTES.get(path)
        provider, endpoint = (
            route if route else ("anthropic" if path.startswith("/v1/messages") else "openai", "")
        )
        body: Any
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        stream = isinstance(body, Mapping) and bool(body.get("stream"))

        def record(status: int, failure: str | None = None) -> None:
            fp._record(
                RecordedRequest(
                    "POST", path, provider, endpoint, headers, body, status, stream, failure, received
                )
            )

        if route is None:
            record(404)
            self._not_found(provider)
            return
        if not self._authorised(provider, headers):
            record(401)
            self._error(provider, 401, None, {})
            return
        if not isinstance(body, Mapping):
            record(400)
            self._error(provider, 400, "The request body is not valid JSON.", {})
            return

        failure = fp._take_failure(provider, endpoint, path)
        if failure is not None and failure.kind != "cut":
            record(failure.status if failure.kind == "http" else 0, failure.label)
            self._fail(provider, failure, stream)
            return
        try:
            reply = self._handle(provider, endpoint, body)
        except BadRequest as exc:
            record(400)
            self._error(provider, 400, exc.message, {}, exc.param)
            return
        except Exception as exc:  # a bug in the fake: answer like a server error
            record(500, "internal")
            self._error(provider, 500, f"fake provider error: {type(exc).__name__}: {exc}", {})
            return
        record(reply.status, failure.label if failure else None)
        self._respond(provider, body, reply, failure)

    def _handle(self, provider: str, endpoint: str, body: Mapping[str, Any]) -> Reply:
        state = self.server.provider._state
        if endpoint == "chat":
            return openai_api.chat_completions(state, body)
        if endpoint == "responses":
            return openai_api.responses(state, body)
        if endpoint == "embeddings":
            return openai_api.embeddings(state, body)
        if endpoint == "messages":
            return anthropic_api.messages(state, body)
        return anthropic_api.count_tokens_endpoint(state, body)

    @staticmethod
    def _authorised(provider: str, headers: Mapping[str, str]) -> bool:
        if provider == "anthropic":
            return bool(headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer "))
        return bool(headers.get("authorization", "").removeprefix("Bearer ").strip())

    # --- replies ------------------------------------------------------------------------------

    def _respond(self, provider: str, body: Mapping[str, Any], reply: Reply, failure: Failure | None) -> None:
        fp = self.server.provider
        model = str(body.get("model", ""))
        latency = fp._latency_for(provider, model)
        headers = base_headers(self.server.provider._state, provider)
        headers.update(rate_headers(self.server.provider, provider, reply.input_tokens + reply.output_tokens))
        headers.update(reply.headers)
        ttft = fp._scaled(latency.ttft, latency.jitter)
        generation = fp._scaled(latency.per_token * reply.output_tokens, latency.jitter)
        if reply.events is None:
            if fp._sleep(ttft + generation):
                return
            if failure is not None:  # "cut": half a body, then the connection drops
                data = dumps(reply.body).encode()
                self._send_head(
                    200, {**headers, "content-type": "application/json", "content-length": str(len(data))}
                )
                self._write(data[: len(data) // 2])
                self._drop()
                return
            self._send_json(provider, reply.status, reply.body, headers)
            return
        events = list(reply.events)
        done = reply.openai_done
        self._send_head(
            200,
            {
                **headers,
                "content-type": "text/event-stream; charset=utf-8",
                "cache-control": "no-cache",
                "transfer-encoding": "chunked",
            },
        )
        gap = generation / max(len(events) - 1, 1)
        for i, event in enumerate(events):
            if failure is not None and i >= failure.after_events:
                self._drop()
                return
            if fp._sleep(ttft if i == 0 else gap):
                self._drop()
                return
            if not self._chunk(_sse(event)):
                return
        if done and not self._chunk(b"data: [DONE]\n\n"):
            return
        self._chunk(b"")

    def _fail(self, provider: str, failure: Failure, stream: bool) -> None:
        fp = self.server.provider
        if failure.kind == "timeout":
            fp._sleep(failure.delay)
            self._drop()
            return
        if failure.kind == "disconnect":
            self._drop()
            return
        headers = base_headers(self.server.provider._state, provider)
        if failure.kind == "malformed":
            if stream:
                self._send_head(
                    200,
                    {
                        **headers,
                        "content-type": "text/event-stream; charset=utf-8",
                        "transfer-encoding": "chunked",
                    },
                )
                event = "message_start" if provider == "anthropic" else None
                self._chunk(_sse((event, '{"type": "message_start", "message": {"id": ')))
                self._chunk(b"")
                return
            self._send_bytes(
                200, b'{"id": "broken", "choices": [', {**headers, "content-type": "application/json"}
            )
            return
        if failure.status == 429:
            headers.update(rate_headers(self.server.provider, provider, 0, exhausted=True))
        if failure.retry_after is not None:
            headers["retry-after"] = str(max(math.ceil(failure.retry_after), 0))
            headers["retry-after-ms"] = str(round(failure.retry_after * 1000))
        self._error(provider, failure.status, failure.message, headers)

    def _error(
        self,
        provider: str,
        status: int,
        message: str | None,
        headers: dict[str, str],
        param: str | None = None,
    ) -> None:
        headers = {**base_headers(self.server.provider._state, provider), **headers}
        if provider == "anthropic":
            body = anthropic_error_body(status, message, headers.get("request-id"))
        else:
            body = openai_error_body(status, message, param)
        self._send_json(provider, status, body, headers)

    def _not_found(self, provider: str) -> None:
        self._error(provider, 404, f"Unknown path {self.path}", {})

    # --- low-level writing ----------------------------------------------------------------------

    def _send_head(self, status: int, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def _send_json(self, provider: str, status: int, body: Any, headers: Mapping[str, str]) -> None:
        self._send_bytes(status, dumps(body).encode(), {**headers, "content-type": "application/json"})

    def _send_bytes(self, status: int, data: bytes, headers: Mapping[str, str]) -> None:
        self._send_head(status, {**headers, "content-length": str(len(data))})
        self._write(data)

    def _write(self, data: bytes) -> bool:
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            self.close_connection = True
            return False
        return True

    def _chunk(self, data: bytes) -> bool:
        """One HTTP/1.1 chunk (an empty one ends the body)."""
        return self._write(b"%x\r\n%s\r\n" % (len(data), data))

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _warm_up() -> None:
    """Load the tokenizers before the first request needs them (about a second each)."""
    for encoding in (tokens.O200K, tokens.CL100K):
        tokens.count_tokens("warm up", encoding)


def _sse(event: SSEEvent) -> bytes:
    name, data = event
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {data}\n\n".encode()


def serve(
    seed: int = 0,
    host: str = "127.0.0.1",
    port: int = 0,
    latency: Latency | None = None,
    on_ready: Callable[[FakeProvider], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Run a provider until ``stop`` is set (or forever); ``on_ready`` gets it once it listens."""
    with FakeProvider(seed=seed, host=host, port=port, latency=latency) as fp:
        if on_ready is not None:
            on_ready(fp)
        (stop or threading.Event()).wait()


def endpoints() -> Iterable[str]:
    """The URL paths the server answers (POST), for documentation."""
    return tuple(_ROUTES)
