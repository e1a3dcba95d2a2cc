"""Metric sinks: each turns completed records into one kind of metric output."""

from agentwatch.sinks.memory import MemorySink
from agentwatch.sinks.otel_metrics import OTelMetricsSink
from agentwatch.sinks.prometheus import PrometheusSink

__all__ = ["MemorySink", "OTelMetricsSink", "PrometheusSink"]
