"""Shutdown and process lifecycle: a bounded shutdown with the backend down, a process that exits with
spans pending neither hangs nor crashes, and forked workers (os.fork, multiprocessing's fork start
method) re-initialise metrics and span export instead of deadlocking or double counting."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

import agentwatch
from agentwatch import call as call_module
from agentwatch import delivery, errors

from .conftest import OTLPReceiver

LABELS = {"provider": "openai", "model": "gpt-4o", "operation": "chat"}


def chat(i: int) -> dict[str, Any]:
    return {"model": "gpt-4o-2024-08-06", "usage": {"prompt_tokens": 10 + i % 3, "completion_tokens": 2}}


@pytest.mark.parametrize("mode", ["hang", "refuse", "500"])
def test_shutdown_is_bounded_when_the_backend_is_down(otlp_env: OTLPReceiver, mode: str) -> None:
    otlp_env.set_mode(mode)
    tel = agentwatch.configure(exporters=["otlp"], prometheus_registry=CollectorRegistry(auto_describe=True))
    [processor] = tel.tracer_provider._active_span_processor._span_processors  # type: ignore[attr-defined]
    ask = agentwatch.track_inference(provider="openai", model="gpt-4o")(chat)
    for i in range(3000):  # more than the queue holds
        ask(i)
    t0 = time.monotonic()
    agentwatch.shutdown(timeout_millis=1000)
    elapsed = time.monotonic() - t0
    print(f"shutdown with the backend {mode}: {elapsed:.2f} s, kept {processor.exported}, "
          f"dropped {processor.dropped}")
    # Bound: the flush timeout given (1 s) plus the processor's shutdown bound (2 s).
    assert elapsed < 3.5, elapsed
    # Every span is accounted for, except a batch an export thread still waits on.
    assert processor.exported == 0
    assert 3000 - 512 <= sum(processor.dropped.values()) <= 3000
    assert processor.pending == 0
    agentwatch.shutdown()  # twice: no-op


EXIT_SCRIPT = """
import sys, time
import agentwatch
agentwatch.configure(exporters=["otlp"])
ask = agentwatch.track_inference(provider="openai", model="gpt-4o")(
    lambda i: {"usage": {"prompt_tokens": 10, "completion_tokens": 2}})
for i in range(int(sys.argv[1])):
    ask(i)
print("done", flush=True)
# no shutdown(): the interpreter exits with spans still queued
"""


@pytest.mark.parametrize(("mode", "spans"), [("ok", 300), ("hang", 3000), ("refuse", 3000), ("500", 3000)])
def test_process_exit_with_pending_spans(otlp_env: OTLPReceiver, mode: str, spans: int) -> None:
    otlp_env.set_mode(mode)
    env = {**os.environ, "OTEL_BSP_SCHEDULE_DELAY": "5000"}  # spans are still queued at exit
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(EXIT_SCRIPT), str(spans)], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "done"
    assert "Traceback" not in proc.stderr, proc.stderr
    print(f"exit with {spans} spans pending, backend {mode}: {elapsed:.2f} s, rc {proc.returncode}")
    if mode == "ok":
        assert otlp_env.span_count == spans  # flushed on the way out
    else:
        assert elapsed < 15, elapsed  # the exit waits at most the shutdown bound, not the backend


def _wait(pid: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError("the forked child hung (a lock inherited held?)")


def test_fork_with_locks_held_reinitialises_metrics_and_export(otlp_env: OTLPReceiver) -> None:
    tel = agentwatch.configure(exporters=["otlp"], prometheus_registry=CollectorRegistry(auto_describe=True))
    ask = agentwatch.track_inference(provider="openai", model="gpt-4o")(chat)
    for i in range(10):
        ask(i)
    assert tel.force_flush(5000)
    assert otlp_env.span_count == 10
    key = ("openai", "gpt-4o", "chat", "ok")
    tel.prometheus.flush()  # the calls' records reach the metrics (they wait for a batch or a scrape)
    # Locks another thread holds at the moment of the fork: in the child they would stay held forever.
    held = [call_module._rollup_lock, tel.recorder._queue._lock, errors._lock, delivery._lock, tel.prometheus._apply_lock,
            tel.prometheus._guards["model"]._lock, tel.prometheus.llm_calls.children[key]._value._lock]
    acquired, release = threading.Event(), threading.Event()

    def holder() -> None:
        for lock in held:
            lock.acquire()
        acquired.set()
        release.wait(30)
        for lock in held:
            lock.release()

    thread = threading.Thread(target=holder)
    thread.start()
    assert acquired.wait(10)
    pid = os.fork()
    if pid == 0:  # the child: a pre-fork worker doing its own work
        code = 1
        try:
            with agentwatch.stage("child-request"):
                for i in range(5):
                    ask(i)
            errors.report("child", "an internal error in the child")
            own = tel.registry.get_sample_value("agentwatch_llm_calls_total", {**LABELS, "outcome": "ok"})
            code = 0 if own == 5 and tel.force_flush(10_000) else 3
        finally:
            os._exit(code)
    release.set()
    thread.join()
    assert _wait(pid, 30) == 0
    for i in range(3):
        ask(i)
    assert tel.registry.get_sample_value("agentwatch_llm_calls_total", {**LABELS, "outcome": "ok"}) == 13
    assert tel.force_flush(5000)
    names = sorted(s.name for s in otlp_env.spans)
    assert names.count("chat gpt-4o") == 10 + 5 + 3
    assert names.count("child-request") == 1


def _worker(n: int) -> tuple[int, float | None]:
    tel = agentwatch.current()
    assert tel is not None
    ask = agentwatch.track_inference(provider="openai", model="gpt-4o")(chat)
    with agentwatch.stage(f"worker-{n}"):
        for i in range(n):
            ask(i)
    tel.force_flush(10_000)
    return os.getpid(), tel.registry.get_sample_value("agentwatch_llm_calls_total", {**LABELS, "outcome": "ok"})


def test_multiprocessing_fork_workers(otlp_env: OTLPReceiver) -> None:
    tel = agentwatch.configure(exporters=["otlp"], prometheus_registry=CollectorRegistry(auto_describe=True))
    ask = agentwatch.track_inference(provider="openai", model="gpt-4o")(chat)
    for i in range(7):
        ask(i)
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        results = pool.map(_worker, [3, 4, 5, 6])
    by_worker: dict[int, float] = {}
    for pid, count in results:
        assert count is not None
        by_worker[pid] = max(by_worker.get(pid, 0), count)
    # Each worker counts only its own calls (never the parent's 7).
    assert sum(by_worker.values()) == 3 + 4 + 5 + 6
    assert tel.registry.get_sample_value("agentwatch_llm_calls_total", {**LABELS, "outcome": "ok"}) == 7
    assert tel.force_flush(5000)
    deadline = time.monotonic() + 10
    while otlp_env.span_count < 7 + 18 + 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    names = [s.name for s in otlp_env.spans]
    assert names.count("chat gpt-4o") == 7 + 18
    assert sorted(n for n in names if n.startswith("worker-")) == ["worker-3", "worker-4", "worker-5", "worker-6"]
