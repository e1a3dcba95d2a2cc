"""Overhead of the OpenAI and Anthropic client wrappers: µs added per call, next to the bare client
and to the official OpenTelemetry OpenAI instrumentation, against the same local fake provider.

Cases (variants interleaved round by round, in each of :data:`PROCESSES` worker processes):

* ``openai_chat``: ``chat.completions.create``, not streamed (usage, cost, metrics, one span).
* ``openai_chat_stream``: the same request streamed with ``include_usage`` and read to the end.
* ``anthropic_messages`` / ``anthropic_messages_stream``: ``messages.create``, plain and
  ``stream=True``.
* ``openai_stream_chunk`` / ``anthropic_stream_event``: one chunk through the stream wrapper (the
  per-chunk cost, without HTTP): recorded SDK chunk objects read through a bare iterator and
  through agentwatch's stream proxy.

Variants: ``bare`` (a client that is not instrumented; agentwatch's class patches are removed
during its batches, so it is the pristine SDK), ``otel_openai_v2`` (the official
``opentelemetry-instrumentation-openai-v2`` with an SDK tracer and meter provider, when it is
installed; instrumented only during its own batches), ``agentwatch`` (an instrumented client:
semconv attributes, usage, cost, Prometheus metrics, one span through the default processor).

The fake provider runs in its own process (``python -m agentwatch.fake_provider``), so the server's
work does not share the interpreter lock with the client being measured. The HTTP cases are timed
in CPU time of the calling thread (``time.thread_time_ns``): a call's wall time is mostly the
server's and the network's, and on a busy machine its noise is a hundred times the few dozen µs
being measured, while the instrumentation does no I/O, so what it adds is CPU time in the caller.
That CPU time must include completing each call (its attributes, price, span end and metrics).
agentwatch completes ended calls in batches: the call that fills a batch completes it, and a
background thread completes what is left once a second, out of sight of the calling thread's clock.
The benchmark sets that thread's period to an hour, so the calling thread completes every batch,
and runs a multiple of the batch size per round, so each round completes its own calls: with 40 a
round, five rounds in eight would complete a batch of 64 and three none, and the median round
would count 1.6 completions per call.

Within a round, the variants take turns of :data:`TURN` calls, in a fresh random order each turn,
until each has made the round's calls. A streamed call costs about 8 ms of CPU here, so a turn of
a whole round (64 calls) lasted about a second, and over a second the machine's speed moved a
65-chunk stream's CPU time by 3-5% (300-400 µs), more than what the instrumentation adds: with
one turn per round, the quartiles of agentwatch's added time per round spanned 800 µs; with turns
of 4 calls they span about 100 µs. Every variant's turn starts with the same change to
the SDK's classes (the bare and official variants take agentwatch's patches off and put them back
after; agentwatch's turn takes them off and puts them back before), so none of them alone runs
with the type caches of an unchanged class.

The stream's reading still moved from one process to the next, by more than its spread within a
process: one process per run measured agentwatch at 0.40x to 0.62x the official instrumentation's
added time over ten runs of the same code, with both added times moving (the official one's from
400 to 615 µs). So the rounds are shared among :data:`PROCESSES` fresh worker processes, run one
after another, and each variant's added time is the average of the processes' own
(``_measure.in_workers``); each pooled row keeps the ratio each process measured, and the table
prints them.

The official instrumentation is never a project dependency; ``setup_env.sh`` here installs it into
the benchmark environment (``.venv-bench``) with the versions pinned in ``requirements-peers.txt``
(its 2.4b0 release imports ``httpx`` and a module that ``opentelemetry-util-genai`` 1.2 removed, so
that one is pinned below 1.2). It is the peer of the OpenAI cases: ``x peer`` is agentwatch's added
time as a multiple of its added time. ``spans_dropped`` is each variant's own processor's count.

Run: ``python -m benchmarks.overhead.bench_clients [--quick]``; one JSON line per variant. HTTP calls
are about a thousand times slower than a decorated function, so unless given, ``--calls`` defaults
to 64 per round (one batch of completions) and ``--rss-calls`` to 1000 here.
"""

from __future__ import annotations

import contextlib
import itertools
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import anthropic
import openai
from anthropic.types import MessageParam
from openai.types.chat import ChatCompletionMessageParam
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

import agentwatch
import agentwatch_anthropic
import agentwatch_openai
from agentwatch import completion_queue, wrapping
from agentwatch_anthropic import _instrument as anthropic_patches
from agentwatch_anthropic import _mapping as anthropic_mapping
from agentwatch_openai import _instrument as openai_patches
from agentwatch_openai import _mapping as openai_mapping

from ._measure import Variant, arguments, delegated, emit, run_case
from .bench_decorators import CountingExporter, DefaultProcessor

SYSTEM = "You are a careful career assistant. Answer in a few short paragraphs."
USER = "Analyse this job posting for a senior backend engineer (Python, PostgreSQL, AWS) and list the skills."
CHAT: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": USER},
]
ASK: list[MessageParam] = [{"role": "user", "content": USER}]


@contextlib.contextmanager
def fake_provider() -> Iterator[str]:
    """The fake provider in its own process; yields its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "agentwatch.fake_provider", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("fake provider listening on "):
            raise RuntimeError(f"the fake provider did not start: {line!r}")
        yield line.rsplit(" ", 1)[1].strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


def official_instrumentor(provider: TracerProvider) -> tuple[Callable[[], None], Callable[[], None]] | None:
    """instrument / uninstrument of the official OpenAI instrumentation, or None if not installed."""
    try:
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    except ImportError as exc:
        print(f"official OpenAI instrumentation not available: {exc}", file=sys.stderr)
        return None
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    instrumentor = OpenAIInstrumentor()

    def on() -> None:
        instrumentor.instrument(tracer_provider=provider, meter_provider=meter_provider)

    def off() -> None:
        instrumentor.uninstrument()

    return on, off


class Replay:
    """A stream that hands out recorded chunks forever (the per-chunk cases)."""

    def __init__(self, chunks: Sequence[Any]) -> None:
        self._cycle = itertools.cycle(chunks)

    def __next__(self) -> Any:
        return next(self._cycle)

    def __iter__(self) -> Replay:
        return self


#: calls each variant makes per turn within a round (see the module docstring)
TURN = 4
#: fresh processes the rounds are shared among (see _measure.in_workers); ``--processes`` overrides it
PROCESSES = 6


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    args = arguments(given, __doc__.splitlines()[0] if __doc__ else "")
    if not args.quick:
        if not any(a.startswith("--calls") for a in given):
            args.calls = completion_queue.BATCH_SIZE
        if not any(a.startswith("--rss-calls") for a in given):
            args.rss_calls = 1000
    else:
        args.rounds, args.calls, args.rss_calls = 3, 20, 100
    if delegated("benchmarks.overhead.bench_clients", args, PROCESSES):
        return 0
    exporter = CountingExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    processor = DefaultProcessor(exporter)
    provider.add_span_processor(processor)
    agentwatch.configure(tracer_provider=provider, prometheus_registry=CollectorRegistry(auto_describe=True))
    # the calling thread completes every batch, so its CPU clock counts every call's completion
    completion_queue.MAX_WAIT_S = 3600.0

    def flush() -> None:
        provider.force_flush(30_000)
        official_provider.force_flush(30_000)

    def spans(name: str, counter: CountingExporter = exporter) -> Callable[[], int]:
        """Spans of this name exported from now on (each case counts its own)."""
        start = counter.by_name[name]
        return lambda: counter.by_name[name] - start

    def pristine(sdk: wrapping.SDKInstrumentation) -> tuple[Callable[[], None], Callable[[], None]]:
        return sdk.remove, sdk.install

    def repatched(sdk: wrapping.SDKInstrumentation) -> Callable[[], None]:
        """Before each agentwatch turn: the class patches taken off and put back, the same change to
        the SDK's classes that starts every other variant's turn."""

        def enter() -> None:
            sdk.remove()
            sdk.install()

        return enter

    # the official instrumentation gets its own provider (same processor, its own counting exporter)
    official_exporter = CountingExporter()
    official_provider = TracerProvider(shutdown_on_exit=False)
    official_processor = DefaultProcessor(official_exporter)
    official_provider.add_span_processor(official_processor)
    official = official_instrumentor(official_provider)
    rows: list[dict[str, Any]] = []
    with fake_provider() as url:
        o_bare = openai.OpenAI(base_url=url + "/v1", api_key="bench", max_retries=0)
        o_ours = agentwatch_openai.instrument(
            openai.OpenAI(base_url=url + "/v1", api_key="bench", max_retries=0)
        )
        a_bare = anthropic.Anthropic(base_url=url, api_key="bench", max_retries=0)
        a_ours = agentwatch_anthropic.instrument(
            anthropic.Anthropic(base_url=url, api_key="bench", max_retries=0)
        )
        no_openai_patches = pristine(openai_patches.SDK)
        no_anthropic_patches = pristine(anthropic_patches.SDK)
        openai_repatched = repatched(openai_patches.SDK)
        anthropic_repatched = repatched(anthropic_patches.SDK)

        def official_variant(fn: Callable[[int], Any], span_name: str) -> list[Variant]:
            if official is None:
                return []
            on, off = official

            def enter() -> None:
                no_openai_patches[0]()
                on()

            def leave() -> None:
                off()
                no_openai_patches[1]()

            return [
                Variant(
                    "otel_openai_v2",
                    fn,
                    spans=spans(span_name, official_exporter),
                    peer=True,
                    enter=enter,
                    leave=leave,
                )
            ]

        # --- OpenAI, not streamed ----------------------------------------------------------------
        def chat(client: openai.OpenAI) -> Callable[[int], Any]:
            return lambda i: client.chat.completions.create(model="gpt-4o-mini", messages=CHAT)

        rows += cpu_note(
            run_case(
                "openai_chat",
                [
                    Variant("bare", chat(o_bare), enter=no_openai_patches[0], leave=no_openai_patches[1]),
                    *official_variant(chat(o_bare), "chat gpt-4o-mini"),
                    Variant(
                        "agentwatch", chat(o_ours), spans=spans("chat gpt-4o-mini"), enter=openai_repatched
                    ),
                ],
                args,
                flush,
                clock=time.thread_time_ns,
                turn=TURN,
            )
        )

        # --- OpenAI, streamed ---------------------------------------------------------------------
        def chat_stream(client: openai.OpenAI) -> Callable[[int], Any]:
            def run(i: int) -> int:
                stream = client.chat.completions.create(
                    model="gpt-4o", messages=CHAT, stream=True, stream_options={"include_usage": True}
                )
                return sum(1 for _ in stream)

            return run

        chunks = chat_stream(o_bare)(0)
        stream_rows = run_case(
            "openai_chat_stream",
            [
                Variant("bare", chat_stream(o_bare), enter=no_openai_patches[0], leave=no_openai_patches[1]),
                *official_variant(chat_stream(o_bare), "chat gpt-4o"),
                Variant(
                    "agentwatch", chat_stream(o_ours), spans=spans("chat gpt-4o"), enter=openai_repatched
                ),
            ],
            args,
            flush,
            clock=time.thread_time_ns,
            turn=TURN,
        )
        for row in stream_rows:
            row["note"] = f"client-thread CPU µs; {chunks} chunks per call"
        rows += stream_rows

        # --- Anthropic ------------------------------------------------------------------------------
        def message(client: anthropic.Anthropic) -> Callable[[int], Any]:
            return lambda i: client.messages.create(
                model="claude-haiku-4-5", max_tokens=1024, system=SYSTEM, messages=ASK
            )

        rows += cpu_note(
            run_case(
                "anthropic_messages",
                [
                    Variant(
                        "bare", message(a_bare), enter=no_anthropic_patches[0], leave=no_anthropic_patches[1]
                    ),
                    Variant(
                        "agentwatch",
                        message(a_ours),
                        spans=spans("chat claude-haiku-4-5"),
                        enter=anthropic_repatched,
                    ),
                ],
                args,
                flush,
                clock=time.thread_time_ns,
                turn=TURN,
            )
        )

        def message_stream(client: anthropic.Anthropic) -> Callable[[int], Any]:
            def run(i: int) -> int:
                stream = client.messages.create(
                    model="claude-haiku-4-5", max_tokens=1024, system=SYSTEM, messages=ASK, stream=True
                )
                return sum(1 for _ in stream)

            return run

        events = message_stream(a_bare)(0)
        stream_rows = run_case(
            "anthropic_messages_stream",
            [
                Variant(
                    "bare",
                    message_stream(a_bare),
                    enter=no_anthropic_patches[0],
                    leave=no_anthropic_patches[1],
                ),
                Variant(
                    "agentwatch",
                    message_stream(a_ours),
                    spans=spans("chat claude-haiku-4-5"),
                    enter=anthropic_repatched,
                ),
            ],
            args,
            flush,
            clock=time.thread_time_ns,
            turn=TURN,
        )
        for row in stream_rows:
            row["note"] = f"client-thread CPU µs; {events} events per call"
        rows += stream_rows

        # --- one chunk through the stream wrapper ---------------------------------------------------
        recorded_chunks = list(
            o_bare.chat.completions.create(
                model="gpt-4o", messages=CHAT, stream=True, stream_options={"include_usage": True}
            )
        )
        recorded_events = list(
            a_bare.messages.create(
                model="claude-haiku-4-5", max_tokens=1024, system=SYSTEM, messages=ASK, stream=True
            )
        )
        rows += per_item_case(
            "openai_stream_chunk",
            recorded_chunks[1:-2],
            openai_mapping.chat_record,
            openai_mapping.chat_stream,
            {"model": "gpt-4o", "messages": CHAT, "stream": True},
            args,
        )
        rows += per_item_case(
            "anthropic_stream_event",
            recorded_events[1:-2],
            anthropic_mapping.message_record,
            anthropic_mapping.message_stream,
            {"model": "claude-haiku-4-5", "messages": ASK, "stream": True, "max_tokens": 1024},
            args,
        )
        for client in (o_bare, o_ours, a_bare, a_ours):
            client.close()

    own = {"agentwatch": processor, "otel_openai_v2": official_processor}
    for row in rows:
        counts = getattr(own.get(row["variant"]), "dropped", None)  # GuardedSpanProcessor's own count
        if isinstance(counts, dict):
            row["spans_dropped"] = sum(counts.values())
    emit(rows)
    agentwatch.shutdown()
    provider.shutdown()
    official_provider.shutdown()
    return 0


def cpu_note(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        row["note"] = "client-thread CPU µs"
    return rows


def per_item_case(
    case: str,
    items: Sequence[Any],
    record: Callable[..., Any],
    observe: Callable[..., Any],
    kwargs: dict[str, Any],
    args: Any,
) -> list[dict[str, Any]]:
    """µs per streamed item: a bare iterator over recorded SDK objects, and the same iterator
    read through agentwatch's stream proxy (one call started, never ended: items only)."""
    from agentwatch import _state

    settings = wrapping.ClientSettings()
    made = record(settings, kwargs)
    recorder = _state.recorder
    assert recorder is not None
    call = recorder.start(made)
    bare = Replay(items)
    proxied = wrapping.StreamProxy(Replay(items), call, observe(settings, kwargs, made))
    rows = run_case(
        case,
        [
            Variant("bare", lambda i: next(bare)),
            Variant("agentwatch", lambda i: next(proxied)),
        ],
        args,
    )
    proxied._aw_done = True  # nothing to record for this synthetic call
    call.span.end()
    return rows


if __name__ == "__main__":
    sys.exit(main())
