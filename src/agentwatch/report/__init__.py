"""``agentwatch report``: calls, errors, tokens, cost and latency per graph, stage, provider and model.

Reads OTLP/JSON lines files (the embedded default ``.agentwatch/spans.jsonl`` with its rotated
backups, or a file the OpenTelemetry Collector's file exporter wrote) as a stream, in memory that
does not grow with the file; or spans straight from memory (OTel SDK ``ReadableSpan`` objects).

    from agentwatch.report import render, summarise

    summary = summarise(".agentwatch/spans.jsonl", since="1h")
    print(summary.total.cost_usd, [(m.model, m.p95_s) for m in summary.models])
    render(summary)                      # rich tables on stdout (or pass console=...)
    render(exporter.get_finished_spans(), console)   # straight from an in-memory exporter
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console

from agentwatch.report._quantiles import Quantiles
from agentwatch.report._read import ReadStats, SpanReader, SpanView, expand_paths, span_from_sdk
from agentwatch.report._render import render_summary, render_tree
from agentwatch.report._summary import KEYS, Aggregator, Group, Summary

__all__ = [
    "Aggregator",
    "Group",
    "Quantiles",
    "SpanReader",
    "SpanView",
    "Summary",
    "default_console",
    "default_path",
    "expand_paths",
    "iter_spans",
    "parse_since",
    "render",
    "summarise",
]

#: a path, several paths, or spans (OTel SDK ``ReadableSpan`` or :class:`SpanView`)
Source = str | os.PathLike[str] | Iterable[Any]
Since = str | datetime | timedelta | int | None

#: at most this many spans are kept to draw the tree of one trace (``--trace``)
MAX_TREE_SPANS = 10_000

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr|d|w)\s*$", re.IGNORECASE)
_UNIT_S = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86400, "w": 604800}
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")


def default_console() -> Console:
    """stdout; 140 columns wide when it is not a terminal (rich would assume 80) unless COLUMNS says."""
    import sys

    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        return Console()
    return Console(width=140)


def default_path() -> Path:
    """Where the embedded default writes spans (``AGENTWATCH_SPANS_FILE`` or ``.agentwatch/spans.jsonl``)."""
    from agentwatch import names
    from agentwatch.exporters.file import DEFAULT_PATH

    return Path(os.environ.get(names.ENV_SPANS_FILE) or DEFAULT_PATH)


def parse_since(value: Since, now_ns: int | None = None) -> int | None:
    """A start-time bound in Unix nanoseconds.

    Accepts a duration back from now (``"90s"``, ``"15m"``, ``"2h"``, ``"7d"``, ``"1w"`` or a
    ``timedelta``), a point in time (ISO 8601 ``"2026-11-23T10:00"``, naive means local time, or a
    ``datetime``), or nanoseconds since the epoch. Raises ``ValueError`` for anything else.
    """
    if value is None:
        return None
    now = time.time_ns() if now_ns is None else now_ns
    if isinstance(value, bool):
        raise ValueError(f"not a time: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, timedelta):
        return now - int(value.total_seconds() * 1e9)
    if isinstance(value, datetime):
        return int(value.timestamp() * 1e9)
    m = _DURATION.match(value)
    if m:
        return now - int(float(m.group(1)) * _UNIT_S[m.group(2).lower()] * 1e9)
    try:
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        return int(datetime.fromisoformat(text).timestamp() * 1e9)
    except ValueError:
        raise ValueError(
            f"--since {value!r}: use a duration like 30m, 2h, 7d or a time like 2026-11-23T10:00"
        ) from None


def _check_trace_id(trace_id: str | None) -> str | None:
    if trace_id is None:
        return None
    tid = trace_id.strip().lower().replace("-", "")
    if not _TRACE_ID.match(tid):
        raise ValueError(f"--trace {trace_id!r}: a trace id is 32 hex digits")
    return tid


def _is_path(item: Any) -> bool:
    return isinstance(item, (str, os.PathLike))


def iter_spans(source: Source, *, since: Since = None, trace_id: str | None = None,
               stats: ReadStats | None = None, keys: frozenset[str] | None = None) -> Iterator[SpanView]:
    """Stream the spans of ``source`` (paths or span objects), filtered; fills ``stats`` if given.

    ``keys``: decode only these attributes of spans read from files (all when None).
    """
    reader = SpanReader(since_ns=parse_since(since), trace_id=_check_trace_id(trace_id), keys=keys)
    if stats is not None:
        reader.stats = stats
    if _is_path(source):
        yield from reader.read_paths([source])  # type: ignore[list-item]
        return
    pending_paths: list[Any] = []
    for item in source:  # type: ignore[union-attr]
        if _is_path(item):
            pending_paths.append(item)
        elif isinstance(item, SpanView):
            yield from reader.filter((item,))
        else:
            yield from reader.filter((span_from_sdk(item),))
    if pending_paths:
        yield from reader.read_paths(pending_paths)


def _missing(source: Source) -> list[str]:
    paths = [source] if _is_path(source) else []
    return [str(p) for p in paths if str(p) != "-" and not expand_paths(p)]  # type: ignore[arg-type]


def summarise(source: Source, *, since: Since = None, trace_id: str | None = None) -> Summary:
    """Aggregate ``source`` into a :class:`Summary` (streaming; memory bounded).

    ``source``: a span file or directory (rotated backups are read too), a list of them, or an
    iterable of spans. Raises ``FileNotFoundError`` if a given path has no span file, and
    ``ValueError`` for a bad ``since`` or ``trace_id``.
    """
    return _summarise(source, since=since, trace_id=trace_id, keep=None)


def _summarise(source: Source, *, since: Since, trace_id: str | None,
               keep: list[SpanView] | None) -> Summary:
    missing = _missing(source)
    if missing:
        raise FileNotFoundError(f"no span file at {missing[0]}")
    stats = ReadStats()
    agg = Aggregator()
    for span in iter_spans(source, since=since, trace_id=trace_id, stats=stats, keys=KEYS):
        agg.add(span)
        if keep is not None and len(keep) < MAX_TREE_SPANS:
            keep.append(span)
    return agg.summary(files=stats.files, bytes_read=stats.bytes_read, bad_lines=stats.bad_lines)


def render(source: Source | Summary, console: Console | None = None, *, since: Since = None,
           trace_id: str | None = None, title: str = "agentwatch report", top: int | None = None) -> Summary:
    """Print the report as rich tables on ``console`` (stdout by default) and return the summary.

    ``source`` is anything :func:`summarise` takes, or a :class:`Summary` already made. With
    ``trace_id``, the trace's span tree is printed too.
    """
    console = console or default_console()
    tree: list[SpanView] | None = [] if trace_id else None
    if isinstance(source, Summary):
        summary = source
    else:
        summary = _summarise(source, since=since, trace_id=trace_id, keep=tree)
    render_summary(summary, console, title=title, top=top)
    if tree:
        render_tree(tree, console, _check_trace_id(trace_id) or "")
    return summary
