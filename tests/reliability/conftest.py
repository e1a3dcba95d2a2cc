"""Shared pieces of the reliability suite: a real OTLP/HTTP receiver that can be made to refuse,
hang or fail, and helpers to read back what agentwatch exported and counted."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import ReadableSpan

from agentwatch import delivery, errors
from agentwatch.testing import Captured

MODES = ("ok", "refuse", "hang", "500")
ENCODER_LOGGER = "opentelemetry.exporter.otlp.proto.common._internal"


class _Server(ThreadingHTTPServer):
    """Remembers its open connections, so "refuse" can cut the kept-alive ones too."""

    daemon_threads = True

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conn_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conn_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        with self._conn_lock:
            conns, self.connections = self.connections, set()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class OTLPReceiver:
    """An OTLP/HTTP traces endpoint on 127.0.0.1.

    ``mode``: ``ok`` answers 200 and keeps the payload; ``500`` answers 500; ``hang`` reads the
    request and never answers (until the mode changes); ``refuse`` closes the listening socket so
    connections are refused. The port stays the same across modes.
    """

    def __init__(self) -> None:
        self.payloads: list[bytes] = []
        self.spans: list[Any] = []
        self.requests = 0
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.mode = "ok"
        self.port = 0
        self._listen()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/traces"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    receiver.requests += 1
                mode = receiver.mode
                if mode == "hang":
                    receiver._released.wait(120)
                    self.close_connection = True
                    return
                if mode == "500":
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                with receiver._lock:
                    receiver.payloads.append(body)
                    for rs in request.resource_spans:
                        for ss in rs.scope_spans:
                            receiver.spans.extend(ss.spans)
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        return Handler

    def _listen(self) -> None:
        server = _Server(("127.0.0.1", self.port), self._handler())
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def _close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.drop_connections()  # kept-alive connections would still be served
            self._server = None

    def set_mode(self, mode: str) -> None:
        assert mode in MODES
        if mode == self.mode:
            return
        if self.mode == "hang":
            self._released.set()
        self._released = threading.Event()
        if mode == "refuse":
            self._close()
        elif self._server is None:
            for _ in range(50):  # the old socket may linger for a moment
                try:
                    self._listen()
                    break
                except OSError:
                    time.sleep(0.05)
        self.mode = mode

    @property
    def span_count(self) -> int:
        with self._lock:
            return len(self.spans)

    def raw(self) -> bytes:
        with self._lock:
            return b"".join(self.payloads)

    def stop(self) -> None:
        self._released.set()
        self._close()


@pytest.fixture
def otlp() -> Iterator[OTLPReceiver]:
    receiver = OTLPReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def otlp_env(otlp: OTLPReceiver, monkeypatch: pytest.MonkeyPatch) -> OTLPReceiver:
    """Standard OTel variables pointing the OTLP exporter at ``otlp``, with quick batches."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", otlp.endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    return otlp


@pytest.fixture(autouse=True)
def _fresh_counts() -> Iterator[None]:
    errors.reset()
    delivery.reset()
    yield


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LogLines(logging.Handler):
    """Collects the records the ``agentwatch`` logger emits."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def agentwatch_logs() -> Iterator[LogLines]:
    handler = LogLines()
    logger = logging.getLogger("agentwatch")
    old_level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old_level)


def internal_errors(tel: Captured, component: str) -> float:
    return tel.sample("agentwatch_internal_errors_total", component=component) or 0.0


def assert_exportable(spans: Sequence[ReadableSpan]) -> None:
    """The OTLP encoder takes every span whole: no attribute dropped, no batch rejected."""
    seen: list[logging.LogRecord] = []

    class Grab(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    handler = Grab()
    logger = logging.getLogger(ENCODER_LOGGER)
    logger.addHandler(handler)
    try:
        data = encode_spans(spans).SerializeToString()
    finally:
        logger.removeHandler(handler)
    assert data
    assert [r.getMessage() for r in seen] == []
