"""Values the recorder puts on spans, made safe to export: text set straight on a call by an
adapter, token counts within OTel's int64, error descriptions, captured content as text, and the
documents of a retrieval as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from json.encoder import encode_basestring_ascii as _json_text  # type: ignore[attr-defined]
from typing import Any

from agentwatch.sanitize import INT64_MAX, safe_text, scrub_secrets

#: documents listed in gen_ai.retrieval.documents (the returned count stays exact)
MAX_DOCUMENTS = 100
MAX_DESCRIPTION = 1024
#: characters kept of an identifier
MAX_NAME_CHARS = 256


def content_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, default=str, ensure_ascii=False)
    except Exception:
        try:
            return str(value)
        except Exception:  # RecursionError on a deeply nested value, a broken __str__ ...
            return f"<{type(value).__name__}: not serialisable>"


def error_description(error: BaseException) -> str:
    try:
        text = f"{type(error).__name__}: {error}"
    except Exception:
        text = type(error).__name__
    return scrub_secrets(safe_text(text[:MAX_DESCRIPTION]))


def export_text(value: object) -> str:
    """An identifier (model, id, finish reason, tool name), set through a call's setter or straight
    on it by an adapter, as safe, bounded text."""
    if type(value) is str and value.isascii() and len(value) <= MAX_NAME_CHARS:
        return value  # the common case: nothing to cut or replace
    return safe_text(str(value)[:MAX_NAME_CHARS])


def documents_json(docs: Sequence[tuple[str | None, float | None]]) -> str:
    """``[{"id": ..., "score": ...}, ...]`` for the first MAX_DOCUMENTS documents (ids are text and
    scores finite floats, as :meth:`Call.set_documents` keeps them; json.dumps costs 3x this)."""
    parts = [
        f'{{"id":{"null" if i is None else _json_text(i)},"score":{"null" if s is None else repr(float(s))}}}'
        for i, s in docs[:MAX_DOCUMENTS]
    ]
    return "[" + ",".join(parts) + "]"


def token_count(n: int) -> int:
    return n if n <= INT64_MAX else INT64_MAX
