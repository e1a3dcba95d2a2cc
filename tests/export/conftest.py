"""Real servers for the export tests: a Prometheus server (Debian's ``prometheus``), a small OTLP
receiver that decodes the real protobuf wire format over gRPC and HTTP, and a workload with known
numbers recorded through the real recorder."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from agentwatch import names
from agentwatch.recorder import Recorder
from agentwatch.records import Inference, Stage, Workflow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 5.0) -> tuple[str, str]:
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.headers.get("Content-Type", ""), resp.read().decode()


# --- OTLP receiver ------------------------------------------------------------------------------
@dataclass
class Received:
    transport: str
    request: trace_service_pb2.ExportTraceServiceRequest
    headers: dict[str, str]


class OtlpReceiver:
    """Accepts OTLP trace exports over gRPC and HTTP/protobuf and keeps the decoded requests.

    ``status`` makes the HTTP endpoint answer with another status (500, ...) to test failures.
    """

    def __init__(self, http_port: int | None = None) -> None:
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.http_status = 200
        self.grpc_port = free_port()
        self.http_port = http_port or free_port()
        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        receiver = self

        class Servicer(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
            def Export(self, request: Any, context: Any) -> Any:
                meta = dict(context.invocation_metadata())
                receiver._keep("grpc", request, meta)
                return trace_service_pb2.ExportTraceServiceResponse()

        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Servicer(), self._grpc)
        self._grpc.add_insecure_port(f"127.0.0.1:{self.grpc_port}")

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if receiver.http_status != 200:
                    self.send_response(receiver.http_status)
                    self.end_headers()
                    return
                if self.path != "/v1/traces" or self.headers.get("Content-Type") != "application/x-protobuf":
                    self.send_response(404)
                    self.end_headers()
                    return
                request = trace_service_pb2.ExportTraceServiceRequest()
                request.ParseFromString(body)
                receiver._keep("http", request, {k.lower(): v for k, v in self.headers.items()})
                out = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", self.http_port), Handler)
        self._http_thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    def _keep(self, transport: str, request: Any, headers: dict[str, str]) -> None:
        with self.lock:
            self.received.append(Received(transport, request, headers))

    def start(self) -> OtlpReceiver:
        self._grpc.start()
        self._http_thread.start()
        return self

    def stop(self) -> None:
        self._grpc.stop(grace=None)
        if self._http_thread.is_alive():
            self._http.shutdown()
        self._http.server_close()

    def span_names(self) -> list[str]:
        return [s.name for _, s in self.spans()]

    def spans(self, transport: str | None = None) -> list[tuple[Any, Any]]:
        """(resource, span) pairs received so far."""
        out = []
        with self.lock:
            for r in self.received:
                if transport and r.transport != transport:
                    continue
                for rs in r.request.resource_spans:
                    for ss in rs.scope_spans:
                        out.extend((rs.resource, s) for s in ss.spans)
        return out

    def wait_spans(self, count: int, timeout: float = 10.0) -> list[tuple[Any, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.spans()
            if len(found) >= count:
                return found
            time.sleep(0.05)
        return self.spans()


@pytest.fixture
def receiver_class() -> type[OtlpReceiver]:
    return OtlpReceiver


@pytest.fixture
def otlp_receiver() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver().start()
    yield receiver
    receiver.stop()


def attrs_of(pb_attributes: Any) -> dict[str, Any]:
    """Protobuf KeyValue list -> dict of plain values."""
    out: dict[str, Any] = {}
    for kv in pb_attributes:
        v = kv.value
        kind = v.WhichOneof("value")
        if kind == "array_value":
            out[kv.key] = [getattr(x, x.WhichOneof("value")) for x in v.array_value.values]
        else:
            out[kv.key] = getattr(v, kind) if kind else None
    return out


# --- Prometheus -----------------------------------------------------------------------------------
class Prometheus:
    """A real Prometheus server on 127.0.0.1 scraping the given targets every second."""

    def __init__(self, workdir: Path, targets: list[str], rule_files: list[Path] | None = None,
                 scrape_interval: str = "1s") -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            pytest.fail("the 'prometheus' command is needed (./dev test installs Debian's package)")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        config = {
            "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
            "scrape_configs": [{"job_name": "agentwatch", "static_configs": [{"targets": targets}]}],
        }
        if rule_files:
            config["rule_files"] = [str(p) for p in rule_files]
        cfg = workdir / "prometheus.yml"
        cfg.write_text(json.dumps(config))  # JSON is YAML
        self.log = workdir / "prometheus.log"
        self._log = open(self.log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [binary, f"--config.file={cfg}", f"--storage.tsdb.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--enable-feature=exemplar-storage",
             "--storage.tsdb.retention.time=1h", "--log.level=warn"],
            stdout=self._log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"prometheus exited: {self.log.read_text()[-2000:]}")
            try:
                http_get(f"{self.url}/-/ready", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        pytest.fail("prometheus did not become ready in 30 s")

    def api(self, path: str, **params: Any) -> Any:
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        _, body = http_get(url, timeout=10)
        data = json.loads(body)
        assert data["status"] == "success", data
        return data["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.api("query", query=expr)["result"]
        return result

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        if not result:
            return None
        assert len(result) == 1, result
        return float(result[0]["value"][1])

    def wait_for(self, expr: str, predicate: Callable[[list[dict[str, Any]]], bool],
                 timeout: float = 30.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        last: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            last = self.query(expr)
            if predicate(last):
                return last
            time.sleep(0.25)
        raise AssertionError(f"timed out waiting on {expr!r}; last result {last}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


# --- a workload with known numbers ------------------------------------------------------------------
@dataclass
class LLMCall:
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    duration_s: float
    error: str | None = None  # exception class name when the call fails
    graph: str = ""
    stage: str = ""


@dataclass
class Workload:
    calls: list[LLMCall] = field(default_factory=list)
    #: (graph, stage, duration_s, failed)
    stages: list[tuple[str, str, float, bool]] = field(default_factory=list)
    #: (graph, duration_s)
    graphs: list[tuple[str, float]] = field(default_factory=list)


class RateLimitError(Exception):
    pass


def run_workload(rec: Recorder, *, runs: int = 6, end_ns: int | None = None) -> Workload:
    """Graph runs of a job copilot: three stages with model calls of known usage and duration.

    Every timing is set explicitly, so latencies are known exactly. Run ``i`` fails its ``write``
    stage when ``i % 3 == 2`` (after a rate-limited call).
    """
    w = Workload()
    t = (end_ns or time.time_ns()) - runs * 200 * 10**9
    plan = [
        ("retrieve", [("openai", "text-embedding-3-small", names.OP_EMBEDDINGS, 800, 0, 0, 0.05)]),
        ("analyze", [("openai", "gpt-4o-mini", names.OP_CHAT, 3000, 400, 1024, 1.5),
                     ("anthropic", "claude-sonnet-4", names.OP_CHAT, 5000, 900, 0, 4.0)]),
        ("write", [("openai", "gpt-4o", names.OP_CHAT, 2000, 1200, 0, 8.0)]),
    ]
    for i in range(runs):
        graph = "job_copilot"
        run_start = t
        wf = rec.start(Workflow(graph), parent=None, start_ns=t)
        for stage_name, calls in plan:
            stage_start = t
            st = rec.start(Stage(stage_name, graph=graph), parent=wf, start_ns=t)
            failed = False
            for provider, model, op, inp, out, cached, base_s in calls:
                dur = base_s * (1 + i / 10)
                call = rec.start(Inference(provider, model, operation=op), parent=st, start_ns=t)
                t += int(dur * 1e9)
                if stage_name == "write" and i % 3 == 2:
                    rec.fail(call, RateLimitError("429"), end_ns=t)
                    w.calls.append(
                        LLMCall(provider, model, 0, 0, 0, dur, "RateLimitError", graph, stage_name))
                    failed = True
                    continue
                call.record_usage(input_tokens=inp, output_tokens=out, cache_read_tokens=cached or None)
                rec.finish(call, end_ns=t)
                w.calls.append(LLMCall(provider, model, inp, out, cached, dur, None, graph, stage_name))
            t += 10**7
            if failed:
                rec.fail(st, RateLimitError("429"), end_ns=t)
            else:
                rec.finish(st, end_ns=t)
            w.stages.append((graph, stage_name, (t - stage_start) / 1e9, failed))
        t += 10**7
        rec.finish(wf, end_ns=t)
        w.graphs.append((graph, (t - run_start) / 1e9))
        t += 10**9
    return w


def nearest_rank(values: list[float], q: float) -> float:
    import math

    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


@pytest.fixture(autouse=True)
def _clean_otel_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("OTEL_") or key in (names.ENV_SPANS_FILE, names.ENV_SPANS_FILE_MAX_BYTES):
            monkeypatch.delenv(key)


@dataclass(frozen=True)
class Util:
    free_port: Callable[[], int] = free_port
    http_get: Callable[..., tuple[str, str]] = http_get
    attrs_of: Callable[[Any], dict[str, Any]] = attrs_of
    nearest_rank: Callable[[list[float], float], float] = nearest_rank
    run_workload: Callable[..., Workload] = run_workload


@pytest.fixture
def util() -> Util:
    """Helpers for the tests of this folder (conftest modules cannot be imported by tests)."""
    return Util()


@pytest.fixture
def start_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Prometheus]]:
    """Start real Prometheus servers (stopped after the test): ``start_prometheus(["127.0.0.1:PORT"])``."""
    started: list[Prometheus] = []

    def start(targets: list[str], rule_files: list[Path] | None = None) -> Prometheus:
        prom = Prometheus(tmp_path_factory.mktemp("prometheus"), targets, rule_files)
        started.append(prom)
        return prom

    yield start
    for prom in started:
        prom.stop()
