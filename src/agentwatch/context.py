"""Request-scoped values (user, session, request id) that every span started inside carries.

They live in a :class:`contextvars.ContextVar`, so they follow asyncio tasks and threads started
with :func:`contextvars.copy_context`. They become span attributes and are never metric labels.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from agentwatch import names
from agentwatch.records import AttributeValue
from agentwatch.sanitize import attribute_value, is_sensitive_key, safe_text, scrub_secrets

_MAX_CHARS = 256

_values: contextvars.ContextVar[dict[str, AttributeValue] | None] = contextvars.ContextVar(
    "agentwatch_context", default=None
)

_KEYS = {
    "user_id": names.USER_ID,
    "session_id": names.SESSION_ID,
    "request_id": names.REQUEST_ID,
    "conversation_id": names.GEN_AI_CONVERSATION_ID,
}


@contextmanager
def context(
    *,
    user_id: str | None = None,
    session_id: str | None = None,
    request_id: str | None = None,
    conversation_id: str | None = None,
    **attributes: AttributeValue,
) -> Iterator[None]:
    """Attach request values to every span started inside the block (nesting merges, inner wins).

    ``user_id`` → ``user.id``, ``session_id`` → ``session.id``, ``request_id`` →
    ``agentwatch.request.id``, ``conversation_id`` → ``gen_ai.conversation.id``; any other keyword
    is used as an attribute name as given.
    """
    merged: dict[str, AttributeValue] = dict(_values.get() or {})
    given = {"user_id": user_id, "session_id": session_id, "request_id": request_id,
             "conversation_id": conversation_id}
    for key, given_value in given.items():
        if given_value is not None:
            merged[_KEYS[key]] = scrub_secrets(safe_text(str(given_value)[:_MAX_CHARS]))
    for key, value in attributes.items():
        clean = attribute_value(value)  # None for what is not an attribute value
        if clean is not None and not is_sensitive_key(key):
            merged[key] = clean
    token = _values.set(merged)
    try:
        yield
    finally:
        _values.reset(token)


def current_attributes() -> dict[str, AttributeValue] | None:
    """The values set by the enclosing :func:`context` blocks, as span attributes (do not mutate)."""
    return _values.get()


def current_values() -> dict[str, AttributeValue]:
    """A copy of the current values, e.g. for log records."""
    return dict(_values.get() or {})
