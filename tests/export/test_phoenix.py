"""A real OTLP backend, Arize Phoenix, receives agentwatch's spans over OTLP HTTP and gRPC; they are
read back through its REST API.

Phoenix is large (~700 MB), so it lives in its own virtual environment: the test runs the
``phoenix`` command named by ``AGENTWATCH_PHOENIX`` (or found on PATH), for example
``python -m venv .venv-phoenix && .venv-phoenix/bin/pip install arize-phoenix`` then
``AGENTWATCH_PHOENIX=.venv-phoenix/bin/phoenix``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import agentwatch


class Phoenix:
    def __init__(self, binary: str, workdir: Path, util: Any) -> None:
        self.http_port, self.grpc_port = util.free_port(), util.free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.util = util
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PHOENIX_"))}
        env.update(PHOENIX_HOST="127.0.0.1", PHOENIX_PORT=str(self.http_port),
                   PHOENIX_GRPC_PORT=str(self.grpc_port), PHOENIX_WORKING_DIR=str(workdir),
                   PHOENIX_TELEMETRY_ENABLED="false", PHOENIX_ALLOW_EXTERNAL_RESOURCES="false")
        self.log = workdir / "phoenix.log"
        self._log = open(self.log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([binary, "serve"], cwd=workdir, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"phoenix exited: {self.log.read_text()[-3000:]}")
            try:
                util.http_get(f"{self.url}/healthz", timeout=2)
                return
            except OSError:
                time.sleep(0.5)
        self.stop()
        pytest.fail("phoenix did not become ready in 180 s")

    def spans(self, project: str) -> list[dict[str, Any]]:
        url = f"{self.url}/v1/projects/{urllib.parse.quote(project)}/spans?limit=1000"
        try:
            _, body = self.util.http_get(url, timeout=10)
        except OSError:  # the project appears with its first span
            return []
        data: list[dict[str, Any]] = json.loads(body)["data"]
        return data

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Phoenix]:
    binary = os.environ.get("AGENTWATCH_PHOENIX") or shutil.which("phoenix")
    if not binary:
        pytest.skip("Arize Phoenix is not installed: set AGENTWATCH_PHOENIX to its 'phoenix' command")
    server = Phoenix(binary, tmp_path_factory.mktemp("phoenix"), _util())
    yield server
    server.stop()


def _util() -> Any:
    # the same helpers as the ``util`` fixture (a module-scoped fixture cannot take it)
    import socket
    import urllib.request

    class U:
        @staticmethod
        def free_port() -> int:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                return int(s.getsockname()[1])

        @staticmethod
        def http_get(url: str, timeout: float = 5.0) -> tuple[str, str]:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                return resp.headers.get("Content-Type", ""), resp.read().decode()

    return U()


@pytest.mark.services
@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_phoenix_receives_and_serves_our_spans(
    phoenix: Phoenix, protocol: str, util: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = f"agentwatch-{protocol.split('/', maxsplit=1)[0]}"
    port = phoenix.http_port if protocol == "http/protobuf" else phoenix.grpc_port
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", f"openinference.project.name={project}")
    tel = agentwatch.configure(service_name="copilot")
    work = util.run_workload(tel.recorder, runs=2)
    agentwatch.shutdown()
    deadline = time.monotonic() + 60
    spans: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        spans = phoenix.spans(project)
        if len(spans) >= 16:
            break
        time.sleep(0.5)
    assert len(spans) == 16
    by_id = {s["context"]["span_id"]: s for s in spans}
    roots = [s for s in spans if not s["parent_id"]]
    assert sorted(s["name"] for s in roots) == ["invoke_workflow job_copilot"] * 2
    for s in spans:
        a = s["attributes"]
        if s["parent_id"] is None:
            continue
        parent = by_id[s["parent_id"]]
        assert parent["context"]["trace_id"] == s["context"]["trace_id"]
        if "agentwatch.stage.name" in a:
            assert parent["name"] == "invoke_workflow job_copilot"
            children = [c for c in spans if c["parent_id"] == s["context"]["span_id"]]
            child_cost = sum(c["attributes"].get("agentwatch.cost.usd", 0.0) for c in children)
            assert a["agentwatch.rollup.cost.usd"] == pytest.approx(child_cost, rel=1e-12)
            assert a["agentwatch.rollup.input_tokens"] == sum(
                c["attributes"].get("gen_ai.usage.input_tokens", 0) for c in children)
        else:
            model = a["gen_ai.request.model"]
            assert parent["name"] in ("retrieve", "analyze", "write")
            mine = [c for c in work.calls if c.model == model and c.stage == parent["name"]]
            assert mine
            if s["status_code"] == "ERROR":
                assert a["error.type"] == "RateLimitError"
                assert "gen_ai.usage.input_tokens" not in a
                continue
            assert a["gen_ai.usage.input_tokens"] == mine[0].input_tokens
            assert a["gen_ai.usage.output_tokens"] == mine[0].output_tokens
            assert a["agentwatch.cost.usd"] == pytest.approx(
                a["agentwatch.cost.input_usd"] + a["agentwatch.cost.output_usd"], rel=1e-9)
            assert a["agentwatch.cost.usd"] > 0
            assert a["agentwatch.cost.source"].startswith("genai-prices")
    inputs = sorted(s["attributes"].get("gen_ai.usage.input_tokens", 0) for s in spans
                    if "gen_ai.request.model" in s["attributes"])
    assert inputs == sorted(c.input_tokens for c in work.calls)
