"""Spans to a local file in the OTLP JSON format, one export request per line.

This is the line format the OpenTelemetry Collector's file exporter writes, so ``agentwatch
report`` reads either. The file is rotated by size: ``spans.jsonl`` → ``spans.jsonl.1`` → ...
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

from google.protobuf.json_format import MessageToJson
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from agentwatch import errors

DEFAULT_PATH = Path(".agentwatch") / "spans.jsonl"


class OTLPJsonFileExporter(SpanExporter):
    def __init__(
        self,
        path: str | os.PathLike[str] = DEFAULT_PATH,
        *,
        max_bytes: int = 100 * 1024 * 1024,
        backups: int = 3,
    ) -> None:
        if max_bytes < 1024:
            raise errors.ConfigurationError(f"spans file max_bytes must be at least 1024, not {max_bytes}")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8"):
                pass
        except OSError as exc:
            raise errors.ConfigurationError(f"spans file {self.path} cannot be written: {exc}") from exc
        self._closed = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._closed:
            return SpanExportResult.FAILURE
        try:
            line = MessageToJson(encode_spans(spans), indent=None) + "\n"
            data = line.encode("utf-8")
            with self._lock:
                self._rotate_if_needed(len(data))
                with open(self.path, "ab") as fh:
                    fh.write(data)
            return SpanExportResult.SUCCESS
        except Exception as exc:
            errors.report("exporter.file", exc)
            return SpanExportResult.FAILURE

    def _rotate_if_needed(self, incoming: int) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size == 0 or size + incoming <= self.max_bytes:
            return
        for i in range(self.backups - 1, 0, -1):
            src = self.path.with_name(f"{self.path.name}.{i}")
            if src.exists():
                src.replace(self.path.with_name(f"{self.path.name}.{i + 1}"))
        if self.backups > 0:
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink()

    def shutdown(self) -> None:
        self._closed = True

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
