"""Make hostile values safe to export: text the OTLP encoder accepts, numbers it can hold, no secrets.

* :func:`safe_text`: a lone surrogate (text decoded from bytes with ``surrogateescape``, or
  cut from the middle of a pair) makes the protobuf encoder reject the whole batch of spans; it
  is replaced by ``U+FFFD``.
* :func:`safe_int`: OTLP integers are int64; a bigger one is dropped by the encoder with a
  logged traceback, so counts are clamped.
* :func:`scrub_secrets`: API keys, bearer tokens, ``Authorization`` / ``x-api-key`` values and
  the passwords of connection strings are replaced by ``[REDACTED]``. It runs on every captured
  content and on every string attribute, whether or not a redaction hook is configured.
* :func:`attribute_value`: a value the OTel attribute model accepts, or ``None``.
"""

from __future__ import annotations

import math
import re
from typing import Any

from agentwatch.records import AttributeValue

INT64_MAX = 2**63 - 1
REDACTED = "[REDACTED]"
_MAX_SEQUENCE = 1000

_SENSITIVE_KEY = re.compile(
    r"authorization|api[-_.]?key|x-api-key|passw(or)?d|\bpwd\b|secret|cookie|credential|private[-_.]?key"
    r"|access[-_.]?token|refresh[-_.]?token|session[-_.]?token|auth[-_.]?token",
    re.IGNORECASE,
)
_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # scheme://user:password@host  ->  scheme://user:[REDACTED]@host
    (
        re.compile(r"([a-z][a-z0-9+.\-]*://[^\s:/@?#]*:)([^\s@/?#]+)(@)", re.IGNORECASE),
        r"\1" + REDACTED + r"\3",
    ),
    # "api_key": "..."  /  password=...  /  x-api-key: ...  /  Authorization: Basic ...
    (
        re.compile(
            r"""(["']?\b(?:x-api-key|api[-_]?key|apikey|authorization|proxy-authorization|password|passwd|pwd"""
            r"""|secret|client[-_]?secret|access[-_]?token|refresh[-_]?token|auth[-_]?token)\b["']?\s*[:=]\s*)"""
            r"""(?:(?:bearer|basic|token)\s+)?("[^"]*"|'[^']*'|[^\s,;&"'}\]]+)""",
            re.IGNORECASE,
        ),
        r"\1" + REDACTED,
    ),
    # Bearer <token> anywhere
    (re.compile(r"\b(bearer|basic)\s+[A-Za-z0-9._~+/\-]{8,}=*", re.IGNORECASE), r"\1 " + REDACTED),
    # well-known key shapes: OpenAI / Anthropic (sk-...), AWS, Google, GitHub, Hugging Face, Slack
    (
        re.compile(
            r"\b(?:sk-[A-Za-z0-9_\-]{16,}|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_\-]{35}|gh[pousr]_[A-Za-z0-9]{30,}"
            r"|hf_[A-Za-z0-9]{30,}|xox[abprs]-[A-Za-z0-9\-]{10,})"
        ),
        REDACTED,
    ),
)
# Cheap pre-check: only text containing one of these can hold a secret the patterns above find.
_MAYBE_SECRET = re.compile(
    r"://|sk-|AKIA|AIza|gh[pousr]_|hf_|xox|bearer|basic|key|passw|pwd|secret|token|authorization",
    re.IGNORECASE,
)


def safe_text(text: str) -> str:
    """``text`` with lone surrogates replaced, so it encodes as UTF-8."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def scrub_secrets(text: str) -> str:
    """``text`` with credentials replaced by ``[REDACTED]``."""
    if not _MAYBE_SECRET.search(text):
        return text
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def is_sensitive_key(key: str) -> bool:
    """True for attribute names that hold credentials (``http.request.header.authorization`` ...)."""
    return _SENSITIVE_KEY.search(key) is not None


def safe_int(value: int) -> int:
    """An int that fits OTLP's int64 (clamped)."""
    if value > INT64_MAX:
        return INT64_MAX
    if value < -INT64_MAX - 1:
        return -INT64_MAX - 1
    return value


def _scalar(value: Any) -> AttributeValue | None:
    if isinstance(value, str):
        return scrub_secrets(safe_text(value))
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return safe_int(value)
    if isinstance(value, float):
        return value
    return None


def attribute_value(value: Any) -> AttributeValue | None:
    """``value`` as an OTel attribute value (str, bool, int, float or a homogeneous tuple of one), or
    ``None`` when it is none of those. Text is made encodable and scrubbed of secrets."""
    if isinstance(value, (str, bool, int, float)):
        return _scalar(value)
    if not isinstance(value, (list, tuple)):
        return None
    items = [_scalar(v) for v in value[:_MAX_SEQUENCE]]
    kinds = {type(v) for v in items}
    if not items or kinds == {str}:
        return tuple(str(v) for v in items)
    if kinds == {bool}:
        return tuple(bool(v) for v in items)
    if kinds == {int}:
        return tuple(int(v) for v in items)  # type: ignore[arg-type]
    if kinds <= {int, float}:
        return tuple(float(v) for v in items)  # type: ignore[arg-type]
    return None


def finite_or_none(value: Any) -> float | None:
    """A finite float, or ``None`` for anything else (NaN, infinities, non-numbers, bools)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        f = float(value)
    except OverflowError:
        return None
    return f if math.isfinite(f) else None
