"""Helpers for testing code that agentwatch instruments: spans in memory, metrics in a private registry.

    from agentwatch.testing import capture
    with capture() as tel:
        my_agent()
    assert tel.spans_named("chat gpt-4o")
    assert tel.sample("agentwatch_llm_calls_total", model="gpt-4o") == 1
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

import agentwatch
from agentwatch.config import Telemetry


class Captured:
    """The spans and metric samples one test produced."""

    def __init__(self, telemetry: Telemetry, exporter: InMemorySpanExporter) -> None:
        self.telemetry = telemetry
        self.exporter = exporter
        self.registry: CollectorRegistry = telemetry.registry

    @property
    def spans(self) -> Sequence[ReadableSpan]:
        return self.exporter.get_finished_spans()

    def spans_named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.spans if s.name == name]

    def span(self, name: str) -> ReadableSpan:
        found = self.spans_named(name)
        if len(found) != 1:
            raise AssertionError(f"expected one span named {name!r}, found {len(found)}: "
                                 f"{sorted(s.name for s in self.spans)}")
        return found[0]

    def children(self, parent: ReadableSpan) -> list[ReadableSpan]:
        pid = parent.context.span_id
        return [s for s in self.spans if s.parent is not None and s.parent.span_id == pid]

    def sample(self, name: str, **labels: str) -> float | None:
        """The value of one sample (``agentwatch_llm_calls_total``, ``..._bucket`` ...) or None."""
        return self.registry.get_sample_value(name, labels)

    def clear(self) -> None:
        self.exporter.clear()


@contextmanager
def capture(**configure_kwargs: Any) -> Iterator[Captured]:
    """Configure agentwatch with an in-memory span exporter and a private registry for the block."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    configure_kwargs.setdefault("prometheus_registry", CollectorRegistry(auto_describe=True))
    tel = agentwatch.configure(tracer_provider=provider, **configure_kwargs)
    try:
        yield Captured(tel, exporter)
    finally:
        agentwatch.shutdown()
        provider.shutdown()
