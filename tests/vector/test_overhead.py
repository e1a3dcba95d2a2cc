"""Benchmark: microseconds a traced pgvector search adds over the same search run bare.

Variants are timed call by call, interleaved in shuffled rounds so a busy moment of the machine
hits all of them alike; the result is the difference of medians. Run with ``-s`` to see the table.
The bound asserted is loose on purpose (a shared 2-core machine): it catches a regression by an
order of magnitude, not noise.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

import agentwatch
from agentwatch import pgvector
from agentwatch.testing import Captured

from ._jobs import embed, literal

pytestmark = pytest.mark.services

SQL = ("SELECT id, 1 - (embedding <=> %(q)s::vector) AS score FROM job_postings "
       "ORDER BY embedding <=> %(q)s::vector LIMIT %(k)s")


def interleaved(variants: dict[str, Callable[[], Any]], rounds: int = 15, calls: int = 40) -> dict[str, float]:
    """Median µs per call of each variant."""
    samples: dict[str, list[int]] = {name: [] for name in variants}
    order = list(variants)
    rng = random.Random(7)
    for fn in variants.values():  # warm-up
        for _ in range(20):
            fn()
    for _ in range(rounds):
        rng.shuffle(order)
        for name in order:
            fn, out = variants[name], samples[name]
            for _ in range(calls):
                t0 = time.perf_counter_ns()
                fn()
                out.append(time.perf_counter_ns() - t0)
    return {name: statistics.median(ns) / 1000 for name, ns in samples.items()}


def test_search_overhead(tel: Captured, conn: psycopg.Connection) -> None:
    params = {"q": literal(embed("python engineer berlin")), "k": 5}
    dict_cursor = conn.cursor(row_factory=dict_row)

    def bare() -> list[Any]:
        return conn.execute(SQL, params).fetchall()

    def helper() -> list[Any]:
        return pgvector.search(conn, SQL, params)

    @agentwatch.track_vector_search("postgresql", "job_postings", top_k_arg="k")
    def decorated(k: int = 5) -> list[Any]:
        pgvector.annotate(SQL, params, conn)
        return dict_cursor.execute(SQL, params).fetchall()

    def bare_dict() -> list[Any]:
        return dict_cursor.execute(SQL, params).fetchall()

    tracer = tel.telemetry.tracer_provider.get_tracer("floor")

    def bare_span() -> list[Any]:  # the floor of any span-based instrumentation
        with tracer.start_as_current_span("floor"):
            return conn.execute(SQL, params).fetchall()

    median = interleaved({"bare": bare, "bare_dict_rows": bare_dict, "otel_span": bare_span,
                          "pgvector.search": helper, "decorator+annotate": decorated})
    added = {
        "otel_span": median["otel_span"] - median["bare"],
        "pgvector.search": median["pgvector.search"] - median["bare"],
        "decorator+annotate": median["decorator+annotate"] - median["bare_dict_rows"],
    }
    print("\npgvector HNSW search (k=5), median µs per call:",
          {k: round(v, 1) for k, v in median.items()}, "added:", {k: round(v, 1) for k, v in added.items()})
    assert len(tel.spans_named("retrieval job_postings")) == 2 * (20 + 15 * 40)  # every call traced
    # a regression guard, not a measurement: within 25x a bare OTel span's cost (+1 ms of noise)
    floor = max(added["otel_span"], 1.0)
    assert all(v < 25 * floor + 1000 for v in added.values()), added
