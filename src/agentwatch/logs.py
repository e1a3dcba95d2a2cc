"""Join logs to traces: a logging filter that stamps trace and span ids and the request context.

``configure_json_logging()`` sets up one JSON line per record with python-json-logger (an optional
dependency: ``pip install python-json-logger``), so logs, traces and metrics join on the same ids.
"""

from __future__ import annotations

import logging
from typing import TextIO

from opentelemetry import trace

from agentwatch.context import current_values

_LOG_KEYS = {
    "user.id": "user_id",
    "session.id": "session_id",
    "agentwatch.request.id": "request_id",
    "gen_ai.conversation.id": "conversation_id",
}


class TraceContextFilter(logging.Filter):
    """Adds ``trace_id``, ``span_id`` (hex; empty outside a span) and the agentwatch context values
    (``user.id`` → ``user_id`` ...) to every record that passes through."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            record.trace_id = format(ctx.trace_id, "032x")
            record.span_id = format(ctx.span_id, "016x")
        else:
            record.trace_id = ""
            record.span_id = ""
        for key, value in current_values().items():
            setattr(record, _LOG_KEYS.get(key) or key.replace(".", "_"), value)
        return True


def configure_json_logging(
    logger: logging.Logger | None = None, level: int = logging.INFO, stream: TextIO | None = None
) -> logging.Handler:
    """Log JSON lines carrying trace ids and context values; returns the handler it added."""
    try:
        from pythonjsonlogger.json import JsonFormatter
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "configure_json_logging needs python-json-logger: pip install python-json-logger"
        ) from exc
    target = logger or logging.getLogger()
    handler: logging.Handler = logging.StreamHandler(stream)
    handler.setFormatter(
        JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(trace_id)s %(span_id)s")
    )
    handler.addFilter(TraceContextFilter())
    target.addHandler(handler)
    target.setLevel(level)
    return handler
