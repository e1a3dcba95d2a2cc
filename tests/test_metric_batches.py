"""Prometheus updates are applied in batches, and no reader can tell.

A completed record waits in a queue until :data:`BATCH_SIZE` records have gathered or one of the
sink's metrics is collected (a scrape, a filtered scrape, ``get_sample_value``, a push,
``Telemetry.force_flush``). In multiprocess mode, where a scrape reads the workers' files without
asking them, records are applied at once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from agentwatch import errors
from agentwatch.records import Completed, Inference, Stage
from agentwatch.sinks.prometheus import BATCH_SIZE, PrometheusSink
from agentwatch.usage import Usage

CHAT = Inference(provider="openai", model="gpt-4o")
LABELS = {"provider": "openai", "model": "gpt-4o", "operation": "chat"}


def chat_call(n: int = 0, outcome: str = "ok") -> Completed:
    return Completed(record=CHAT, outcome=outcome, duration_s=0.02, start_ns=0, end_ns=10**12 + n,
                     usage=Usage(100, 10), trace_id=n + 1)


def calls(registry: CollectorRegistry, outcome: str = "ok") -> float | None:
    return registry.get_sample_value("agentwatch_llm_calls_total", {**LABELS, "outcome": outcome})


def test_a_record_waits_for_its_batch_and_every_read_applies_it_first() -> None:
    registry = CollectorRegistry()
    sink = PrometheusSink(registry)
    try:
        sink.on_completed(chat_call())
        assert sink.llm_calls.children == {}  # queued, not applied
        assert calls(registry) == 1  # get_sample_value collects: the queue is applied first

        # A filtered scrape (/metrics?name[]=...) collects only the metrics it names.
        sink.on_completed(chat_call(1))
        only = registry.restricted_registry(["agentwatch_llm_call_duration_seconds_count"])
        text = generate_latest(only).decode()
        assert ('agentwatch_llm_call_duration_seconds_count{model="gpt-4o",operation="chat",'
                'provider="openai"} 2.0') in text
        assert calls(registry) == 2
        assert registry.get_sample_value("agentwatch_llm_tokens_total", {**LABELS, "type": "input"}) == 200

        # A full batch is applied by the call that completes it, with nobody reading.
        for n in range(BATCH_SIZE):
            sink.on_completed(chat_call(n))
        key = ("openai", "gpt-4o", "chat", "ok")
        assert sink.llm_calls.children[key]._value.get() == 2 + BATCH_SIZE
        sink.on_completed(chat_call())
        sink.flush()
        assert sink.llm_calls.children[key]._value.get() == 3 + BATCH_SIZE
    finally:
        sink.close()


def test_exemplars_and_failures_survive_the_queue() -> None:
    registry = CollectorRegistry()
    sink = PrometheusSink(registry)
    try:
        sink.on_completed(chat_call(0xABC - 1))
        family = next(f for f in registry.collect() if f.name == "agentwatch_llm_calls")
        (sample,) = [s for s in family.samples if s.name == "agentwatch_llm_calls_total"]
        assert sample.exemplar is not None and sample.exemplar.labels == {"trace_id": f"{0xABC:032x}"}

        # A record the sink cannot apply is counted as an internal error; the ones around it still land.
        broken = Completed(record=Stage(name="s"), outcome="ok", duration_s=None,  # type: ignore[arg-type]
                           start_ns=0, end_ns=1)
        for c in (chat_call(), broken, chat_call()):
            sink.on_completed(c)
        assert calls(registry) == 3
        assert registry.get_sample_value("agentwatch_internal_errors_total",
                                         {"component": "sink.PrometheusSink"}) == 1
        # Only metrics that nothing but the batches updates skip the value holders' own locks; the
        # internal error count is also bumped from any thread, outside a batch.
        assert sink.llm_calls.floats and sink.llm_duration.floats
        assert not sink.internal_errors.floats
    finally:
        sink.close()


def test_a_collection_from_inside_a_batch_does_not_wait_for_itself() -> None:
    # An error listener that reads the registry (a logging or alerting hook) runs while a batch is
    # being applied, on the thread that holds the apply lock.
    registry = CollectorRegistry()
    sink = PrometheusSink(registry)
    seen: list[float | None] = []

    def reads_the_registry(component: str) -> None:
        if component == "sink.PrometheusSink":
            seen.append(calls(registry))

    broken = Completed(record=Stage(name="s"), outcome="ok", duration_s=None,  # type: ignore[arg-type]
                       start_ns=0, end_ns=1)
    errors.add_listener(reads_the_registry)
    try:
        for c in (chat_call(), broken, chat_call(), chat_call()):
            sink.on_completed(c)
        worker = threading.Thread(target=sink.flush, daemon=True)
        worker.start()
        worker.join(10)
    finally:
        errors.remove_listener(reads_the_registry)
    assert not worker.is_alive(), "the batch waited for its own lock"  # (a stuck sink is not closed)
    sink.close()
    assert seen == [3]  # the read inside applied the rest of the batch first
    assert calls(registry) == 3


def test_threads_completing_while_others_scrape_lose_nothing() -> None:
    registry = CollectorRegistry()
    sink = PrometheusSink(registry)
    threads, per_thread = 4, 3 * BATCH_SIZE + 17
    stop = threading.Event()
    scrapes = 0

    def scrape() -> None:
        nonlocal scrapes
        while not stop.is_set():
            generate_latest(registry)
            scrapes += 1

    def work(n: int) -> None:
        for i in range(per_thread):
            sink.on_completed(chat_call(i, "error" if (n + i) % 5 == 0 else "ok"))

    try:
        scraper = threading.Thread(target=scrape)
        scraper.start()
        workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        stop.set()
        scraper.join()
        total = threads * per_thread
        errors = sum(1 for n in range(threads) for i in range(per_thread) if (n + i) % 5 == 0)
        assert scrapes > 0
        assert calls(registry) == total - errors
        assert calls(registry, "error") == errors
        assert registry.get_sample_value("agentwatch_llm_call_duration_seconds_count", LABELS) == total
        assert registry.get_sample_value("agentwatch_llm_tokens_total", {**LABELS, "type": "output"}) == 10 * total
    finally:
        sink.close()


MULTIPROCESS_WORKER = """
from prometheus_client import CollectorRegistry, multiprocess
from agentwatch.records import Completed, Inference
from agentwatch.sinks.prometheus import PrometheusSink
from agentwatch.usage import Usage

sink = PrometheusSink(CollectorRegistry())
for _ in range(3):
    sink.on_completed(Completed(record=Inference(provider="openai", model="gpt-4o"), outcome="ok",
                                duration_s=0.02, start_ns=0, end_ns=1, usage=Usage(100, 10)))
exposition = CollectorRegistry()
multiprocess.MultiProcessCollector(exposition)
print(exposition.get_sample_value("agentwatch_llm_calls_total",
                                  {"provider": "openai", "model": "gpt-4o", "operation": "chat", "outcome": "ok"}))
"""


def test_multiprocess_mode_applies_each_record_at_once(tmp_path: Path) -> None:
    # The exposition registry reads the workers' files; it never collects the worker's own metrics.
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", MULTIPROCESS_WORKER], env=env, capture_output=True,
                         text=True, timeout=120, check=True)
    assert out.stdout.strip() == "3.0"
