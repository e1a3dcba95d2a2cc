"""The OTLP backend (a receiver decoding real OTLP/HTTP protobuf) refuses connections, answers 500, or accepts and never answers: application calls
stay fast, the export queue stays bounded, spans flow again once the backend is back, and what was
kept or dropped is counted."""

from __future__ import annotations

import statistics
import time
from typing import Any

import pytest

import agentwatch
from agentwatch import delivery

QUEUE = 256
CALLS = 2000
WARM_UP = 20


@agentwatch.track_inference(provider="openai", model="gpt-4o-mini")
def ask(i: int) -> int:
    agentwatch.current_call().record_usage(input_tokens=10, output_tokens=1)
    return i


def _timed_calls(n: int) -> list[float]:
    out = []
    for i in range(n):
        t = time.perf_counter_ns()
        ask(i)
        out.append((time.perf_counter_ns() - t) / 1e3)
    return out


@pytest.mark.services
@pytest.mark.parametrize("fault", ["healthy", "refused", "http_500", "never_answers"])
def test_backend_outage(fault: str, receiver_class: Any, util: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    port = util.free_port()
    receiver = None
    if fault == "healthy":  # the control: same load, backend up
        receiver = receiver_class(http_port=port).start()
    elif fault == "http_500":
        receiver = receiver_class(http_port=port).start()
        receiver.http_status = 500
    elif fault == "never_answers":
        receiver = receiver_class(http_port=port)  # bound and listening, but nobody reads the requests
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", str(QUEUE))
    delivery.reset()
    baseline = _timed_calls(300)  # agentwatch not configured: the bare function
    tel = agentwatch.configure(prometheus_registry=None)
    processor = tel.tracer_provider._active_span_processor._span_processors[0]  # type: ignore[attr-defined]
    _timed_calls(WARM_UP)  # first calls load the price of the model
    during = _timed_calls(CALLS)
    max_pending = processor.pending
    assert max_pending <= QUEUE
    exported_during, dropped_during = delivery.stats()
    # The backend comes back.
    if fault == "refused":
        receiver = receiver_class(http_port=port).start()
    elif fault == "never_answers":
        receiver.start()
    elif fault == "http_500":
        receiver.http_status = 200
    time.sleep(1.5)  # let a stuck or backing-off export finish
    for i in range(50):
        with agentwatch.stage(f"after {i}"):
            pass
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and sum(n.startswith("after ") for n in receiver.span_names()) < 50:
        time.sleep(0.1)
    after = sum(n.startswith("after ") for n in receiver.span_names())
    agentwatch.shutdown()
    exported, dropped = delivery.stats()
    received = len(receiver.spans())
    receiver.stop()
    added_median = statistics.median(during) - statistics.median(baseline)
    p99 = sorted(during)[int(0.99 * len(during))]
    print(f"\n{fault}: per call median {statistics.median(during):.0f} us (bare {statistics.median(baseline):.1f}"
          f" us), p99 {p99:.0f} us, max {max(during):.0f} us; queue max {max_pending}/{QUEUE}; "
          f"during outage exported {exported_during} dropped {dropped_during}; "
          f"total exported {exported} dropped {dropped}; backend received {received}")
    assert after == 50, "spans did not resume after the backend came back"
    assert exported >= 50 and received >= 50
    if fault != "never_answers":  # there, requests given up by the client are still read later
        assert received == exported
    assert exported + sum(dropped.values()) == WARM_UP + CALLS + 50  # every span is accounted for
    assert added_median < 2000, "calls were slowed down by the outage"
    # A call that waited for the exporter would take its 1 s timeout; scheduling noise on a busy
    # machine stays far below (the healthy control shows the same p99).
    assert max(during) < 900_000, "a call blocked on the exporter"
    assert p99 < 100_000
