"""Metrics from several worker processes (uvicorn --workers) add up, with PROMETHEUS_MULTIPROC_DIR;
and the ASGI / WSGI apps serve /metrics from inside a web application."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from prometheus_client.parser import text_string_to_metric_families

import agentwatch

WORKERS = 3

APP = '''
import os, time
from pathlib import Path
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
import agentwatch

tel = agentwatch.configure(exporters=["none"], prometheus_port=int(os.environ["AW_METRICS_PORT"]))
Path(os.environ["AW_READY_DIR"], str(os.getpid())).write_text(tel.metrics_url or "")

@agentwatch.track_inference(provider="openai", model="gpt-4o-mini")
def ask(n):
    agentwatch.current_call().record_usage(input_tokens=n, output_tokens=1)
    return n

async def call(request):
    time.sleep(0.03)  # hold this worker's loop so that concurrent requests reach the others
    ask(int(request.query_params["n"]))
    return JSONResponse({"pid": os.getpid()})

app = Starlette(routes=[Route("/call", call), Mount("/metrics", app=agentwatch.prometheus_asgi_app())])
'''


def _samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name:
                out[tuple(sorted(s.labels.items()))] = s.value
    return out


@pytest.mark.services
def test_uvicorn_workers_aggregate(tmp_path: Path, util: Any) -> None:
    mp_dir, ready = tmp_path / "multiproc", tmp_path / "ready"
    mp_dir.mkdir()
    ready.mkdir()
    (tmp_path / "mpapp.py").write_text(textwrap.dedent(APP))
    port, metrics_port = util.free_port(), util.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(PROMETHEUS_MULTIPROC_DIR=str(mp_dir), AW_METRICS_PORT=str(metrics_port), AW_READY_DIR=str(ready),
               PYTHONPATH=str(tmp_path))
    log = open(tmp_path / "uvicorn.log", "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "mpapp:app", "--host", "127.0.0.1", "--port", str(port),
         "--workers", str(WORKERS), "--no-access-log"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while len(list(ready.iterdir())) < WORKERS:
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "uvicorn.log").read_text()
            time.sleep(0.2)
        base = f"http://127.0.0.1:{port}"
        while True:
            try:
                util.http_get(f"{base}/call?n=0")
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.2)

        def call(n: int) -> str:
            return str(util.http_get(f"{base}/call?n={n}")[1])

        numbers = list(range(1, 121))
        with ThreadPoolExecutor(max_workers=12) as pool:
            answers = list(pool.map(call, numbers))
        pids = set(answers)
        assert len(pids) >= 2, "the requests did not spread over the workers"
        key = (("model", "gpt-4o-mini"), ("operation", "chat"), ("outcome", "ok"), ("provider", "openai"))
        tokens_key = (("model", "gpt-4o-mini"), ("operation", "chat"), ("provider", "openai"), ("type", "input"))
        # Whichever worker answers the scrape, it serves the sum over every worker.
        for _ in range(6):
            _, text = util.http_get(f"{base}/metrics/")
            assert _samples(text, "agentwatch_llm_calls_total")[key] == len(numbers) + 1
            assert _samples(text, "agentwatch_llm_tokens_total")[tokens_key] == sum(numbers)
        # The port from configure(prometheus_port=...): one worker bound it, it serves everyone's.
        urls = {p.read_text() for p in ready.iterdir()}
        assert urls == {f"http://127.0.0.1:{metrics_port}/metrics"}
        _, text = util.http_get(f"http://127.0.0.1:{metrics_port}/metrics")
        assert _samples(text, "agentwatch_llm_calls_total")[key] == len(numbers) + 1
        assert len(list(mp_dir.glob("counter_*.db"))) == WORKERS
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_asgi_and_wsgi_apps_serve_metrics(util: Any) -> None:
    import asyncio

    import uvicorn

    tel = agentwatch.configure(exporters=["none"])
    util.run_workload(tel.recorder, runs=1)
    expected = tel.registry.get_sample_value(
        "agentwatch_llm_tokens_total",
        {"provider": "openai", "model": "gpt-4o-mini", "operation": "chat", "type": "input"})
    assert expected == 3000
    # WSGI, in a real server
    wsgi = make_server("127.0.0.1", 0, agentwatch.prometheus_wsgi_app(), handler_class=_QuietHandler)
    threading.Thread(target=wsgi.serve_forever, daemon=True).start()
    try:
        _, text = util.http_get(f"http://127.0.0.1:{wsgi.server_port}/")
        assert 'agentwatch_llm_tokens_total{model="gpt-4o-mini",operation="chat",provider="openai",type="input"} ' \
               "3000.0" in text
    finally:
        wsgi.shutdown()
        wsgi.server_close()
    # ASGI, in uvicorn
    port = util.free_port()
    server = uvicorn.Server(uvicorn.Config(agentwatch.prometheus_asgi_app(), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        ctype, text = util.http_get(f"http://127.0.0.1:{port}/",
                                    {"Accept": "application/openmetrics-text; version=1.0.0"})
        assert ctype.startswith("application/openmetrics-text")
        sample = _samples(text, "agentwatch_llm_tokens_total")
        assert sample[(("model", "gpt-4o-mini"), ("operation", "chat"), ("provider", "openai"),
                       ("type", "input"))] == 3000
        assert '# {trace_id="' in text
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    agentwatch.shutdown()
    with pytest.raises(agentwatch.ConfigurationError, match="configure"):
        agentwatch.prometheus_asgi_app()


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass
