"""Stream spans out of OTLP/JSON lines files, one line (one export request) at a time.

Reads what :class:`agentwatch.exporters.file.OTLPJsonFileExporter` writes and what the
OpenTelemetry Collector's file exporter writes (``format: json``): one ``ExportTraceServiceRequest``
per line, ids in hex (base64 ids, as protobuf's generic JSON mapping writes them, are accepted too).
Lines of other signals (``resourceMetrics``, ``resourceLogs``) are skipped; a line that is not JSON
(a half-written last line, a corrupt block) is counted and skipped, never fatal.

Memory does not grow with the file: only the current line and its spans are held.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

try:  # orjson parses about twice as fast when it happens to be installed; json is the fallback
    import orjson

    _loads: Callable[[bytes], Any] = orjson.loads
except ImportError:  # pragma: no cover - depends on the environment
    _loads = json.loads

_ROTATED = re.compile(r"\.(\d+)$")


@dataclass(slots=True)
class SpanView:
    """The parts of one span the report uses (a neutral view of an OTLP/JSON span or an SDK span)."""

    trace_id: str  # 32 lowercase hex digits
    span_id: str  # 16 lowercase hex digits
    parent_span_id: str  # "" for a root span
    name: str
    start_ns: int
    end_ns: int
    status_code: int  # 0 unset, 1 ok, 2 error
    attributes: Mapping[str, Any]
    service: str = ""


@dataclass
class ReadStats:
    """What reading saw besides spans (for the report's header and ``--json``)."""

    files: list[str] = field(default_factory=list)
    bytes_read: int = 0
    lines: int = 0
    bad_lines: int = 0
    other_lines: int = 0


def _hex_id(value: Any, size: int) -> str:
    """An OTLP/JSON id as lowercase hex: hex as the OTLP/JSON mapping writes it, or base64."""
    if not value:
        return ""
    text = str(value)
    if len(text) == size * 2:
        return text.lower()
    try:
        return base64.b64decode(text).hex()
    except (ValueError, TypeError):
        return text.lower()


def _any_value(value: Mapping[str, Any]) -> Any:
    for kind, inner in value.items():
        if kind in ("stringValue", "boolValue"):
            return inner
        if kind == "intValue":
            try:
                return int(inner)
            except (TypeError, ValueError):
                return None
        if kind == "doubleValue":
            try:
                return float(inner)
            except (TypeError, ValueError):
                return None
        if kind == "arrayValue":
            return [_any_value(v) for v in inner.get("values", ())]
        return None
    return None


def _attributes(items: Iterable[Mapping[str, Any]] | None, keys: frozenset[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if items:
        for kv in items:
            key = kv.get("key", "")
            if keys is not None and key not in keys:
                continue
            value = kv.get("value")
            if not value:
                continue
            # the common kinds first, without a call
            if "stringValue" in value:
                out[key] = value["stringValue"]
            elif "intValue" in value:
                try:
                    out[key] = int(value["intValue"])
                except (TypeError, ValueError):
                    pass
            else:
                out[key] = _any_value(value)
    return out


def spans_of_request(request: Mapping[str, Any], keys: frozenset[str] | None = None) -> Iterator[SpanView]:
    """The spans of one decoded ``ExportTraceServiceRequest`` (OTLP/JSON).

    ``keys``: decode only these attributes (all when None).
    """
    for rs in request.get("resourceSpans") or ():
        resource = rs.get("resource") or {}
        service = ""
        for kv in resource.get("attributes") or ():
            if kv.get("key") == "service.name":
                service = str(_any_value(kv.get("value") or {}) or "")
                break
        for ss in rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans") or ():
            for s in ss.get("spans") or ():
                status = s.get("status")
                code = status.get("code", 0) if status else 0
                if isinstance(code, str):  # protobuf's generic JSON mapping writes enum names
                    code = {"STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}.get(code, 0)
                trace_id = s.get("traceId") or ""
                if len(trace_id) != 32:
                    trace_id = _hex_id(trace_id, 16)
                span_id = s.get("spanId") or ""
                if len(span_id) != 16:
                    span_id = _hex_id(span_id, 8)
                parent = s.get("parentSpanId") or ""
                if parent and len(parent) != 16:
                    parent = _hex_id(parent, 8)
                yield SpanView(
                    trace_id,
                    span_id,
                    parent,
                    s.get("name", ""),
                    int(s.get("startTimeUnixNano") or 0),
                    int(s.get("endTimeUnixNano") or 0),
                    int(code),
                    _attributes(s.get("attributes"), keys),
                    service,
                )


def span_from_sdk(span: Any) -> SpanView:
    """A view of an OpenTelemetry SDK ``ReadableSpan`` (for reports straight from memory)."""
    ctx = span.get_span_context()
    parent = span.parent
    resource = getattr(span, "resource", None)
    service = str(resource.attributes.get("service.name", "")) if resource is not None else ""
    return SpanView(
        trace_id=format(ctx.trace_id, "032x"),
        span_id=format(ctx.span_id, "016x"),
        parent_span_id=format(parent.span_id, "016x") if parent is not None else "",
        name=span.name,
        start_ns=span.start_time or 0,
        end_ns=span.end_time or 0,
        status_code=span.status.status_code.value if span.status is not None else 0,
        attributes=dict(span.attributes or {}),
        service=service,
    )


def expand_paths(path: str | os.PathLike[str]) -> list[Path]:
    """The files to read for ``path``, oldest first.

    A directory gives its ``*.json``/``*.jsonl`` files (rotated ones included) by modification
    time; a file gives its size-rotated backups ``name.N`` ... ``name.1`` and then itself.
    """
    p = Path(path)
    if p.is_dir():
        found = [f for f in p.iterdir() if f.is_file() and (".json" in f.name)]
        return sorted(found, key=lambda f: (f.stat().st_mtime, f.name))
    backups: list[tuple[int, Path]] = []
    if p.parent.is_dir():
        prefix = p.name + "."
        for sibling in p.parent.iterdir():
            if sibling.name.startswith(prefix):
                m = _ROTATED.search(sibling.name)
                if m and sibling.name == f"{p.name}.{m.group(1)}":
                    backups.append((int(m.group(1)), sibling))
    files = [b for _, b in sorted(backups, reverse=True)]
    if p.exists():
        files.append(p)
    return files


class SpanReader:
    """Iterates the spans of files (or a binary stream), filtered by start time and trace id.

    ``trace_id`` filtering first looks for the id's text in each raw line, so lines of other
    traces are not even parsed.
    """

    def __init__(self, *, since_ns: int | None = None, trace_id: str | None = None,
                 keys: frozenset[str] | None = None) -> None:
        self.since_ns = since_ns
        self.keys = keys
        self.trace_id = trace_id.lower() if trace_id else None
        self.stats = ReadStats()
        self._needles: tuple[bytes, ...] = ()
        if self.trace_id:
            raw = bytes.fromhex(self.trace_id)
            self._needles = (self.trace_id.encode(), base64.b64encode(raw))

    def read_paths(self, paths: Iterable[str | os.PathLike[str]]) -> Iterator[SpanView]:
        for path in paths:
            if str(path) == "-":
                self.stats.files.append("-")
                yield from self.read_stream(sys.stdin.buffer)
                continue
            for file in expand_paths(path):
                self.stats.files.append(str(file))
                with open(file, "rb") as fh:
                    yield from self.read_stream(fh)

    def read_stream(self, stream: IO[bytes]) -> Iterator[SpanView]:
        stats = self.stats
        needles = self._needles
        for raw in stream:
            stats.bytes_read += len(raw)
            if not raw.strip():
                continue
            stats.lines += 1
            if needles and not any(n in raw for n in needles):
                continue
            try:
                request = _loads(raw)
            except ValueError:
                stats.bad_lines += 1
                continue
            if not isinstance(request, dict) or "resourceSpans" not in request:
                stats.other_lines += 1
                continue
            try:
                yield from self.filter(spans_of_request(request, self.keys))
            except (TypeError, ValueError, AttributeError):
                stats.bad_lines += 1

    def filter(self, spans: Iterable[SpanView]) -> Iterator[SpanView]:
        since, trace_id = self.since_ns, self.trace_id
        for span in spans:
            if since is not None and span.start_ns < since:
                continue
            if trace_id is not None and span.trace_id != trace_id:
                continue
            yield span
