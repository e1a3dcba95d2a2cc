from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import SpanLimits, SpanProcessor, TracerProvider, sampling
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import agentwatch


@pytest.fixture(autouse=True)
def _no_leftover_configuration() -> Iterator[None]:
    yield
    agentwatch.shutdown()


def provider_with(*processors: SpanProcessor, limits: SpanLimits | None = None,
                  sampler: sampling.Sampler | None = None) -> tuple[TracerProvider, InMemorySpanExporter]:
    """A tracer provider exporting to memory through the SDK's simple processor, then ``processors``."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(span_limits=limits, sampler=sampler, shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    for processor in processors:
        provider.add_span_processor(processor)
    return provider, exporter
