"""Span exporters agentwatch adds to the OTel SDK's own (OTLP, console)."""

from agentwatch.exporters.file import OTLPJsonFileExporter

__all__ = ["OTLPJsonFileExporter"]
