"""Provider usage shapes -> one :class:`~agentwatch.usage.Usage`, plus response model, id and finish reasons.

Every function accepts SDK objects (attribute access) and the plain dicts of the same JSON. The
result follows the semconv meaning: ``input_tokens`` *includes* cache reads and writes,
``output_tokens`` *includes* reasoning.

Provider differences handled here (and nowhere else):

* OpenAI chat / embeddings: ``prompt_tokens`` already includes ``cached_tokens``;
  ``completion_tokens`` already includes ``reasoning_tokens``.
* OpenAI Responses: ``input_tokens`` includes ``input_tokens_details.cached_tokens`` and
  ``cache_write_tokens``; ``output_tokens`` includes ``output_tokens_details.reasoning_tokens``.
* Anthropic Messages: ``input_tokens`` *excludes* the cache, so cache reads
  (``cache_read_input_tokens``) and writes (``cache_creation_input_tokens``, split 5m / 1h in
  ``cache_creation``) are added back. Streaming: ``message_start`` carries the usage,
  each ``message_delta`` the *cumulative* counts (see :class:`AnthropicStreamUsage`).
* LangChain ``usage_metadata``: ``input_tokens`` already includes the cache for every provider.

Malformed usage (negative or non-numeric counts, cache or reasoning larger than their totals, no
counts at all) gives ``None`` -- "no usage" -- and one counted internal warning, never an exception.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from agentwatch import errors
from agentwatch.field_reading import (
    Malformed,
    count_of,
    counts_of,
    fields_of,
    get_field,
    has_field,
    is_usage_container,
)
from agentwatch.usage import Usage

__all__ = [
    "AnthropicStreamUsage",
    "finish_reasons_from_any",
    "response_id_from_any",
    "response_model_from_any",
    "usage_from_anthropic",
    "usage_from_any",
    "usage_from_langchain",
    "usage_from_openai_chat",
    "usage_from_openai_embeddings",
    "usage_from_openai_responses",
]

_COMPONENT = "usage"
logger = logging.getLogger("agentwatch")


def _checked(usage: Usage) -> Usage:
    if usage.cache_read_tokens + usage.cache_write_tokens > usage.input_tokens:
        raise Malformed("cache tokens exceed input tokens")
    if usage.cache_write_1h_tokens > usage.cache_write_tokens:
        raise Malformed("1h cache writes exceed cache writes")
    if usage.reasoning_tokens > usage.output_tokens:
        raise Malformed("reasoning tokens exceed output tokens")
    if usage.input_audio_tokens + usage.input_image_tokens > usage.input_tokens:
        raise Malformed("audio/image input tokens exceed input tokens")
    if usage.output_audio_tokens > usage.output_tokens:
        raise Malformed("audio output tokens exceed output tokens")
    return usage


def _safe(shape: str, build: Any, obj: Any, *args: Any) -> Usage | None:
    try:
        if not is_usage_container(obj):
            raise Malformed(f"not a usage object: {type(obj).__name__}")
        usage: Usage = build(obj, *args)
        return _checked(usage)
    except Malformed as exc:
        # One log line per shape (the detail goes to debug): the kinds of this warning stay few.
        errors.report(_COMPONENT, f"malformed {shape} usage ignored (negative, non-numeric, missing or "
                                  "inconsistent token counts); the call is recorded without usage")
        logger.debug("agentwatch: malformed %s usage: %s", shape, exc)
    except Exception as exc:
        errors.report(_COMPONENT, exc)
    return None


# --- OpenAI -----------------------------------------------------------------------------------------
_OPENAI_PROMPT_DETAILS = ("cached_tokens", "cache_write_tokens", "audio_tokens", "image_tokens")
_OPENAI_COMPLETION_DETAILS = ("reasoning_tokens", "audio_tokens")


_OPENAI_CHAT_FIELDS = ("prompt_tokens", "completion_tokens", "prompt_tokens_details",
                       "completion_tokens_details")


def _openai_chat(u: Any) -> Usage:
    if type(u) is dict:  # JSON: read in place (a list comprehension costs more than four gets)
        get = u.get
        prompt, completion = get("prompt_tokens"), get("completion_tokens")
        prompt_details, completion_details = get("prompt_tokens_details"), get("completion_tokens_details")
    else:
        prompt, completion, prompt_details, completion_details = fields_of(u, _OPENAI_CHAT_FIELDS)
    if type(prompt) is not int or prompt < 0:
        prompt = count_of(u, "prompt_tokens", required=True)
    if type(completion) is not int or completion < 0:
        completion = count_of(u, "completion_tokens")
    read, write, audio_in, image_in = counts_of(prompt_details, _OPENAI_PROMPT_DETAILS)
    reasoning, audio_out = counts_of(completion_details, _OPENAI_COMPLETION_DETAILS)
    return Usage(prompt, completion, read, write, reasoning, 0, audio_in, audio_out, image_in)


def usage_from_openai_chat(obj: Any) -> Usage | None:
    """OpenAI Chat Completions usage (``CompletionUsage`` or its dict), or a completion / final chunk
    carrying it."""
    return _safe("openai chat", _openai_chat, _unwrap(obj, "prompt_tokens"))


def _openai_responses(u: Any) -> Usage:
    idt = get_field(u, "input_tokens_details")
    odt = get_field(u, "output_tokens_details")
    return Usage(
        input_tokens=count_of(u, "input_tokens", required=True),
        output_tokens=count_of(u, "output_tokens"),
        cache_read_tokens=count_of(idt, "cached_tokens"),
        cache_write_tokens=count_of(idt, "cache_write_tokens"),
        reasoning_tokens=count_of(odt, "reasoning_tokens"),
    )


def usage_from_openai_responses(obj: Any) -> Usage | None:
    """OpenAI Responses API usage (``ResponseUsage``), a ``Response``, or a ``response.completed``
    stream event."""
    if get_field(obj, "response") is not None and get_field(obj, "usage") is None:
        obj = get_field(obj, "response")
    return _safe("openai responses", _openai_responses, _unwrap(obj, "input_tokens"))


def _openai_embeddings(u: Any) -> Usage:
    prompt = get_field(u, "prompt_tokens")
    key = "prompt_tokens" if prompt is not None else "total_tokens"
    return Usage(input_tokens=count_of(u, key, required=True))


def usage_from_openai_embeddings(obj: Any) -> Usage | None:
    """OpenAI embeddings usage (``prompt_tokens``; no output tokens)."""
    return _safe("openai embeddings", _openai_embeddings, _unwrap(obj, "prompt_tokens"))


# --- Anthropic --------------------------------------------------------------------------------------
_ANTHROPIC_FIELDS = ("input_tokens", "output_tokens", "cache_read_input_tokens",
                     "cache_creation_input_tokens", "cache_creation")
_ANTHROPIC_CACHE_CREATION = ("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens")


def _anthropic(u: Any) -> Usage:
    uncached, output, read, write, creation = fields_of(u, _ANTHROPIC_FIELDS)
    written = write is not None
    if type(uncached) is not int or uncached < 0:
        uncached = count_of(u, "input_tokens", required=True)
    if type(output) is not int or output < 0:
        output = count_of(u, "output_tokens")
    if type(read) is not int or read < 0:
        read = count_of(u, "cache_read_input_tokens")
    w5, w1h = counts_of(creation, _ANTHROPIC_CACHE_CREATION)
    if not written:
        write = w5 + w1h
    elif type(write) is not int or write < 0:
        write = count_of(u, "cache_creation_input_tokens")
    return Usage(
        input_tokens=uncached + read + write,
        output_tokens=output,
        cache_read_tokens=read,
        cache_write_tokens=write,
        cache_write_1h_tokens=min(w1h, write),
        reasoning_tokens=count_of(get_field(u, "output_tokens_details"), "thinking_tokens"),
    )


def usage_from_anthropic(obj: Any) -> Usage | None:
    """Anthropic Messages usage (``Usage``), a ``Message``, or a ``message_start`` event; ``input_tokens``
    there excludes the cache, which is added back."""
    message = get_field(obj, "message")
    if message is not None and get_field(obj, "usage") is None:
        obj = message
    return _safe("anthropic", _anthropic, _unwrap(obj, "input_tokens"))


class AnthropicStreamUsage:
    """Accumulates the usage of one Anthropic Messages stream.

    Feed every event (SDK objects or dicts); only ``message_start`` and ``message_delta`` matter.
    ``message_start`` carries the input side; each ``message_delta`` carries *cumulative* counts
    (so the last one wins, never a sum). Not thread-safe: one instance per stream.
    """

    __slots__ = ("_delta", "_start")

    def __init__(self) -> None:
        self._start: Any = None
        self._delta: dict[str, Any] = {}

    def feed(self, event: Any) -> None:
        try:
            kind = get_field(event, "type")
            if kind == "message_start":
                message = get_field(event, "message")
                usage = get_field(message, "usage")
                if usage is not None:
                    self._start = usage
            elif kind == "message_delta":
                usage = get_field(event, "usage")
                if usage is None:
                    return
                for key in ("input_tokens", "output_tokens", "cache_read_input_tokens",
                            "cache_creation_input_tokens", "cache_creation", "output_tokens_details"):
                    value = get_field(usage, key)
                    if value is not None:
                        self._delta[key] = value
        except Exception as exc:
            errors.report(_COMPONENT, exc)

    @property
    def seen(self) -> bool:
        return self._start is not None or bool(self._delta)

    def usage(self) -> Usage | None:
        """The stream's usage so far, or ``None`` if no usage event was seen (or it was malformed)."""
        if not self.seen:
            return None
        merged: dict[str, Any] = {}
        for key in ("input_tokens", "output_tokens", "cache_read_input_tokens",
                    "cache_creation_input_tokens", "cache_creation", "output_tokens_details"):
            value = self._delta.get(key)
            if value is None:
                value = get_field(self._start, key)
            if value is not None:
                merged[key] = value
        merged.setdefault("input_tokens", 0)
        return _safe("anthropic stream", _anthropic, merged)


# --- LangChain ---------------------------------------------------------------------------------------
_LANGCHAIN_INPUT_DETAILS = ("cache_read", "ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens",
                            "cache_creation", "audio")
_LANGCHAIN_OUTPUT_DETAILS = ("reasoning", "audio")


def _langchain(u: Any, provider: str | None) -> Usage:
    inp = count_of(u, "input_tokens", required=True)
    read, w5, w1h, write, audio_in = counts_of(get_field(u, "input_token_details"), _LANGCHAIN_INPUT_DETAILS)
    reasoning, audio_out = counts_of(get_field(u, "output_token_details"), _LANGCHAIN_OUTPUT_DETAILS)
    if write == 0 and (w5 or w1h):
        # langchain-anthropic reports the TTL split instead of ``cache_creation`` in some versions.
        write = w5 + w1h
    if provider is not None and provider.lower().startswith("anthropic") and read + write > inp:
        # An Anthropic ``usage_metadata`` built from the raw SDK numbers (input without cache).
        inp += read + write
    out = count_of(u, "output_tokens")
    return Usage(inp, out, read, write, reasoning, min(w1h, write), audio_in, audio_out)


def usage_from_langchain(usage_metadata: Any, provider: str | None = None) -> Usage | None:
    """LangChain ``AIMessage.usage_metadata`` (or a message carrying it).

    ``input_tokens`` there already includes cache reads and writes (for OpenAI and Anthropic
    alike), and ``output_tokens`` includes reasoning; cache details may be missing when streamed.
    """
    meta = get_field(usage_metadata, "usage_metadata")
    if meta is not None:
        usage_metadata = meta
    return _safe("langchain", _langchain, usage_metadata, provider)


# --- duck typing ------------------------------------------------------------------------------------
def _unwrap(obj: Any, marker: str) -> Any:
    """``obj.usage`` unless ``obj`` itself is the usage (it has ``marker``)."""
    if obj is None or get_field(obj, marker) is not None:
        return obj
    inner = get_field(obj, "usage")
    return inner if inner is not None else obj


_USAGE_FIELDS = frozenset(Usage.__dataclass_fields__)


def _kind(u: Any) -> str | None:
    if get_field(u, "prompt_tokens") is not None:
        return "embeddings" if get_field(u, "completion_tokens") is None else "openai_chat"
    if get_field(u, "input_tokens") is None:
        return None
    odt = get_field(u, "output_tokens_details")
    if get_field(u, "input_tokens_details") is not None or get_field(odt, "reasoning_tokens") is not None:
        return "openai_responses"
    if get_field(u, "input_token_details") is not None or get_field(u, "output_token_details") is not None:
        return "langchain"
    if has_field(u, "cache_read_input_tokens") or has_field(u, "cache_creation_input_tokens") \
            or get_field(u, "cache_creation") is not None or has_field(u, "output_tokens_details"):
        return "anthropic"
    if isinstance(u, Mapping) and any(k in _USAGE_FIELDS and k not in ("input_tokens", "output_tokens")
                                      for k in u):
        return "semconv"
    if get_field(u, "total_tokens") is not None:
        return "langchain"
    return "anthropic"


def _semconv(u: Any) -> Usage:
    values = {k: count_of(u, k) for k in _USAGE_FIELDS if k != "estimated"}
    return Usage(**values, estimated=bool(get_field(u, "estimated", False)))


def usage_from_any(obj: Any) -> Usage | None:
    """Usage from whatever a model call returned, or ``None`` if it carries none.

    Accepts a :class:`Usage`; an object or dict with ``usage_metadata`` (LangChain) or ``usage``
    (OpenAI, Anthropic); a Responses ``response.completed`` event; an Anthropic ``message_start``
    event; or a bare usage object in any of those shapes. Something without usage gives ``None``
    silently; usage that is there but malformed gives ``None`` and a counted warning.
    """
    try:
        if type(obj) is dict:  # the common case, without the checks below
            meta = obj.get("usage_metadata")
            u = obj.get("usage") if meta is None else None
        else:
            if isinstance(obj, Usage):
                return obj
            if not is_usage_container(obj):
                return None
            meta = get_field(obj, "usage_metadata")
            u = get_field(obj, "usage") if meta is None else None
        if meta is not None:
            return usage_from_langchain(meta)
        if u is None:
            for holder in ("response", "message"):
                inner = get_field(obj, holder)
                if inner is not None and is_usage_container(inner) and get_field(inner, "usage") is not None:
                    u = get_field(inner, "usage")
                    break
        if u is None:
            u = obj
        if isinstance(u, Usage):
            return u
        if not is_usage_container(u):
            errors.report(_COMPONENT, "malformed usage ignored (not a usage object)")
            return None
        kind = _kind(u)
        if kind is None:
            if u is not obj:  # there was a ``usage`` but nothing in it we understand
                errors.report(_COMPONENT, "malformed usage ignored (no token counts)")
            return None
        if kind == "openai_chat":
            return _safe("openai chat", _openai_chat, u)
        if kind == "embeddings":
            return _safe("openai embeddings", _openai_embeddings, u)
        if kind == "openai_responses":
            return _safe("openai responses", _openai_responses, u)
        if kind == "langchain":
            return _safe("langchain", _langchain, u, None)
        if kind == "semconv":
            return _safe("usage", _semconv, u)
        return _safe("anthropic", _anthropic, u)
    except Exception as exc:
        errors.report(_COMPONENT, exc)
        return None


_SELF_RESPONSE_MESSAGE = (None, "response", "message")


def _first_text(obj: Any, key: str, meta_keys: tuple[str, ...]) -> str | None:
    """``obj.key`` (also on a wrapped ``response`` / ``message``), else LangChain ``response_metadata``."""
    try:
        if type(obj) is dict:  # the common case first: the answer's own field
            value = obj.get(key)
            if type(value) is str and value:
                return value
        elif not is_usage_container(obj):
            return None
        for holder_key in _SELF_RESPONSE_MESSAGE:
            holder = obj if holder_key is None else get_field(obj, holder_key)
            if holder is None or not is_usage_container(holder):
                continue
            value = get_field(holder, key)
            if isinstance(value, str) and value:
                return value
            meta = get_field(holder, "response_metadata")
            if meta is not None:
                for meta_key in meta_keys:
                    value = get_field(meta, meta_key)
                    if isinstance(value, str) and value:
                        return value
    except Exception as exc:
        errors.report(_COMPONENT, exc)
    return None


def response_model_from_any(obj: Any) -> str | None:
    """The model that answered (``model`` of an OpenAI / Anthropic response, LangChain
    ``response_metadata.model_name``), or ``None``."""
    return _first_text(obj, "model", ("model_name", "model", "model_id"))


def response_id_from_any(obj: Any) -> str | None:
    """The provider's response id (``id`` of a completion / message / response), or ``None``."""
    return _first_text(obj, "id", ("id",))


def _reasons(values: Iterable[Any]) -> tuple[str, ...]:
    return tuple([v for v in values if isinstance(v, str) and v])


def finish_reasons_from_any(obj: Any) -> tuple[str, ...]:
    """Finish / stop reasons: OpenAI ``choices[].finish_reason``, Anthropic ``stop_reason`` (also in
    a ``message_delta``), Responses ``status``, LangChain ``response_metadata``. Empty if none."""
    try:
        if not is_usage_container(obj):
            return ()
        choices = get_field(obj, "choices")
        if type(choices) is list or isinstance(choices, tuple):
            found = _reasons([get_field(c, "finish_reason") for c in choices])
            if found:
                return found
        for holder in (obj, get_field(obj, "delta"), get_field(obj, "message")):
            if holder is None or not is_usage_container(holder):
                continue
            found = _reasons((get_field(holder, "stop_reason"),))
            if found:
                return found
            meta = get_field(holder, "response_metadata")
            if meta is not None:
                found = _reasons((get_field(meta, "finish_reason"), get_field(meta, "stop_reason")))
                if found:
                    return found[:1]
        response = get_field(obj, "response")
        target = response if response is not None and is_usage_container(response) else obj
        if get_field(target, "object") == "response":
            found = _reasons((get_field(target, "status"),))
            if found:
                return found
    except Exception as exc:
        errors.report(_COMPONENT, exc)
    return ()
