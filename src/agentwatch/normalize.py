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
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import attrgetter
from typing import Any

from agentwatch import errors
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
_MISSING = object()


class _Malformed(ValueError):
    """A usage payload that cannot be trusted (reported once as a counted warning)."""


#: whether a type is a Mapping, remembered per type (isinstance against the ABC costs ~1 µs when
#: the answer is no, as it is for every SDK response object)
_is_mapping: dict[type, bool] = {}


def _is_mapping_type(kind: type) -> bool:
    mapping = _is_mapping.get(kind)
    if mapping is None:
        mapping = issubclass(kind, Mapping)
        if len(_is_mapping) < 1024:
            _is_mapping[kind] = mapping
    return mapping


def _get(obj: Any, key: str, default: Any = None) -> Any:
    if type(obj) is dict:  # the common case, without the (slow) ABC check below
        return obj.get(key, default)
    if obj is None:
        return default
    kind = type(obj)
    mapping = _is_mapping.get(kind)
    if mapping is None:
        mapping = _is_mapping_type(kind)
    if mapping:
        return obj.get(key, default)
    try:
        return getattr(obj, key, default)
    except Exception:
        return default


#: (type, field names) that one C-level ``attrgetter`` cannot read (the type lacks one of the fields,
#: or one raises): read field by field. SDK objects have every field of their schema, None when unset.
_partial: set[tuple[type, tuple[str, ...]]] = set()
_getters: dict[tuple[str, ...], Callable[[Any], Any]] = {}


def _fields(obj: Any, keys: tuple[str, ...]) -> Sequence[Any]:
    """``[_get(obj, key) for key in keys]`` in one call: a model call reads a dozen fields."""
    if type(obj) is dict:
        get = obj.get
        return [get(k) for k in keys]
    if obj is None:
        return [None] * len(keys)
    kind = type(obj)
    if _is_mapping_type(kind):
        return [obj.get(k) for k in keys]
    if len(keys) > 1 and (kind, keys) not in _partial:
        getter = _getters.get(keys)
        if getter is None:
            getter = attrgetter(*keys)
            if len(_getters) < 256:
                _getters[keys] = getter
        try:
            return getter(obj)  # type: ignore[no-any-return]
        except Exception:  # a field it lacks, or a property that raises: field by field from now on
            if len(_partial) < 1024:
                _partial.add((kind, keys))
    return [_get(obj, k) for k in keys]


def _has(obj: Any, key: str) -> bool:
    return _get(obj, key, _MISSING) is not _MISSING


def _counts(obj: Any, keys: tuple[str, ...]) -> list[int]:
    """``_count(obj, key)`` for each of ``keys``, in one call (a model call reads eight or so)."""
    if obj is None:
        return [0] * len(keys)
    # a dict is read here rather than through _fields: one call less on the commonest path
    found = [obj.get(k) for k in keys] if type(obj) is dict else _fields(obj, keys)
    values = found if type(found) is list else list(found)
    for i, value in enumerate(values):
        if type(value) is not int or value < 0:
            values[i] = 0 if value is None else _count(obj, keys[i])
    return values


def _count(obj: Any, key: str, *, required: bool = False) -> int:
    """A non-negative integer count at ``obj[key]`` (0 when absent and not required)."""
    value = obj.get(key) if type(obj) is dict else _get(obj, key)
    if type(value) is int and value >= 0:  # the common case first
        return value
    if value is None:
        if required:
            raise _Malformed(f"missing {key}")
        return 0
    if isinstance(value, bool):
        raise _Malformed(f"{key} is a bool")
    if isinstance(value, int):
        if value < 0:
            raise _Malformed(f"{key} is negative")
        return value
    if isinstance(value, float) and math.isfinite(value) and value >= 0 and value.is_integer():
        return int(value)
    raise _Malformed(f"{key} is not a token count: {type(value).__name__}")


_NOT_CONTAINERS = (str, bytes, int, float, bool)


def _is_usage_container(obj: Any) -> bool:
    if type(obj) is dict:  # the common case, before the isinstance check
        return True
    return obj is not None and not isinstance(obj, _NOT_CONTAINERS)


def _checked(usage: Usage) -> Usage:
    if usage.cache_read_tokens + usage.cache_write_tokens > usage.input_tokens:
        raise _Malformed("cache tokens exceed input tokens")
    if usage.cache_write_1h_tokens > usage.cache_write_tokens:
        raise _Malformed("1h cache writes exceed cache writes")
    if usage.reasoning_tokens > usage.output_tokens:
        raise _Malformed("reasoning tokens exceed output tokens")
    if usage.input_audio_tokens + usage.input_image_tokens > usage.input_tokens:
        raise _Malformed("audio/image input tokens exceed input tokens")
    if usage.output_audio_tokens > usage.output_tokens:
        raise _Malformed("audio output tokens exceed output tokens")
    return usage


def _safe(shape: str, build: Any, obj: Any, *args: Any) -> Usage | None:
    try:
        if not _is_usage_container(obj):
            raise _Malformed(f"not a usage object: {type(obj).__name__}")
        usage: Usage = build(obj, *args)
        return _checked(usage)
    except _Malformed as exc:
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
        prompt, completion, prompt_details, completion_details = _fields(u, _OPENAI_CHAT_FIELDS)
    if type(prompt) is not int or prompt < 0:
        prompt = _count(u, "prompt_tokens", required=True)
    if type(completion) is not int or completion < 0:
        completion = _count(u, "completion_tokens")
    read, write, audio_in, image_in = _counts(prompt_details, _OPENAI_PROMPT_DETAILS)
    reasoning, audio_out = _counts(completion_details, _OPENAI_COMPLETION_DETAILS)
    return Usage(prompt, completion, read, write, reasoning, 0, audio_in, audio_out, image_in)


def usage_from_openai_chat(obj: Any) -> Usage | None:
    """OpenAI Chat Completions usage (``CompletionUsage`` or its dict), or a completion / final chunk
    carrying it."""
    return _safe("openai chat", _openai_chat, _unwrap(obj, "prompt_tokens"))


def _openai_responses(u: Any) -> Usage:
    idt = _get(u, "input_tokens_details")
    odt = _get(u, "output_tokens_details")
    return Usage(
        input_tokens=_count(u, "input_tokens", required=True),
        output_tokens=_count(u, "output_tokens"),
        cache_read_tokens=_count(idt, "cached_tokens"),
        cache_write_tokens=_count(idt, "cache_write_tokens"),
        reasoning_tokens=_count(odt, "reasoning_tokens"),
    )


def usage_from_openai_responses(obj: Any) -> Usage | None:
    """OpenAI Responses API usage (``ResponseUsage``), a ``Response``, or a ``response.completed``
    stream event."""
    if _get(obj, "response") is not None and _get(obj, "usage") is None:
        obj = _get(obj, "response")
    return _safe("openai responses", _openai_responses, _unwrap(obj, "input_tokens"))


def _openai_embeddings(u: Any) -> Usage:
    prompt = _get(u, "prompt_tokens")
    key = "prompt_tokens" if prompt is not None else "total_tokens"
    return Usage(input_tokens=_count(u, key, required=True))


def usage_from_openai_embeddings(obj: Any) -> Usage | None:
    """OpenAI embeddings usage (``prompt_tokens``; no output tokens)."""
    return _safe("openai embeddings", _openai_embeddings, _unwrap(obj, "prompt_tokens"))


# --- Anthropic --------------------------------------------------------------------------------------
_ANTHROPIC_FIELDS = ("input_tokens", "output_tokens", "cache_read_input_tokens",
                     "cache_creation_input_tokens", "cache_creation")
_ANTHROPIC_CACHE_CREATION = ("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens")


def _anthropic(u: Any) -> Usage:
    uncached, output, read, write, creation = _fields(u, _ANTHROPIC_FIELDS)
    written = write is not None
    if type(uncached) is not int or uncached < 0:
        uncached = _count(u, "input_tokens", required=True)
    if type(output) is not int or output < 0:
        output = _count(u, "output_tokens")
    if type(read) is not int or read < 0:
        read = _count(u, "cache_read_input_tokens")
    w5, w1h = _counts(creation, _ANTHROPIC_CACHE_CREATION)
    if not written:
        write = w5 + w1h
    elif type(write) is not int or write < 0:
        write = _count(u, "cache_creation_input_tokens")
    return Usage(
        input_tokens=uncached + read + write,
        output_tokens=output,
        cache_read_tokens=read,
        cache_write_tokens=write,
        cache_write_1h_tokens=min(w1h, write),
        reasoning_tokens=_count(_get(u, "output_tokens_details"), "thinking_tokens"),
    )


def usage_from_anthropic(obj: Any) -> Usage | None:
    """Anthropic Messages usage (``Usage``), a ``Message``, or a ``message_start`` event; ``input_tokens``
    there excludes the cache, which is added back."""
    message = _get(obj, "message")
    if message is not None and _get(obj, "usage") is None:
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
            kind = _get(event, "type")
            if kind == "message_start":
                message = _get(event, "message")
                usage = _get(message, "usage")
                if usage is not None:
                    self._start = usage
            elif kind == "message_delta":
                usage = _get(event, "usage")
                if usage is None:
                    return
                for key in ("input_tokens", "output_tokens", "cache_read_input_tokens",
                            "cache_creation_input_tokens", "cache_creation", "output_tokens_details"):
                    value = _get(usage, key)
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
                value = _get(self._start, key)
            if value is not None:
                merged[key] = value
        merged.setdefault("input_tokens", 0)
        return _safe("anthropic stream", _anthropic, merged)


# --- LangChain ---------------------------------------------------------------------------------------
_LANGCHAIN_INPUT_DETAILS = ("cache_read", "ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens",
                            "cache_creation", "audio")
_LANGCHAIN_OUTPUT_DETAILS = ("reasoning", "audio")


def _langchain(u: Any, provider: str | None) -> Usage:
    inp = _count(u, "input_tokens", required=True)
    read, w5, w1h, write, audio_in = _counts(_get(u, "input_token_details"), _LANGCHAIN_INPUT_DETAILS)
    reasoning, audio_out = _counts(_get(u, "output_token_details"), _LANGCHAIN_OUTPUT_DETAILS)
    if write == 0 and (w5 or w1h):
        # langchain-anthropic reports the TTL split instead of ``cache_creation`` in some versions.
        write = w5 + w1h
    if provider is not None and provider.lower().startswith("anthropic") and read + write > inp:
        # An Anthropic ``usage_metadata`` built from the raw SDK numbers (input without cache).
        inp += read + write
    out = _count(u, "output_tokens")
    return Usage(inp, out, read, write, reasoning, min(w1h, write), audio_in, audio_out)


def usage_from_langchain(usage_metadata: Any, provider: str | None = None) -> Usage | None:
    """LangChain ``AIMessage.usage_metadata`` (or a message carrying it).

    ``input_tokens`` there already includes cache reads and writes (for OpenAI and Anthropic
    alike), and ``output_tokens`` includes reasoning; cache details may be missing when streamed.
    """
    meta = _get(usage_metadata, "usage_metadata")
    if meta is not None:
        usage_metadata = meta
    return _safe("langchain", _langchain, usage_metadata, provider)


# --- duck typing ------------------------------------------------------------------------------------
def _unwrap(obj: Any, marker: str) -> Any:
    """``obj.usage`` unless ``obj`` itself is the usage (it has ``marker``)."""
    if obj is None or _get(obj, marker) is not None:
        return obj
    inner = _get(obj, "usage")
    return inner if inner is not None else obj


_USAGE_FIELDS = frozenset(Usage.__dataclass_fields__)


def _kind(u: Any) -> str | None:
    if _get(u, "prompt_tokens") is not None:
        return "embeddings" if _get(u, "completion_tokens") is None else "openai_chat"
    if _get(u, "input_tokens") is None:
        return None
    odt = _get(u, "output_tokens_details")
    if _get(u, "input_tokens_details") is not None or _get(odt, "reasoning_tokens") is not None:
        return "openai_responses"
    if _get(u, "input_token_details") is not None or _get(u, "output_token_details") is not None:
        return "langchain"
    if _has(u, "cache_read_input_tokens") or _has(u, "cache_creation_input_tokens") \
            or _get(u, "cache_creation") is not None or _has(u, "output_tokens_details"):
        return "anthropic"
    if isinstance(u, Mapping) and any(k in _USAGE_FIELDS and k not in ("input_tokens", "output_tokens")
                                      for k in u):
        return "semconv"
    if _get(u, "total_tokens") is not None:
        return "langchain"
    return "anthropic"


def _semconv(u: Any) -> Usage:
    values = {k: _count(u, k) for k in _USAGE_FIELDS if k != "estimated"}
    return Usage(**values, estimated=bool(_get(u, "estimated", False)))


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
            if not _is_usage_container(obj):
                return None
            meta = _get(obj, "usage_metadata")
            u = _get(obj, "usage") if meta is None else None
        if meta is not None:
            return usage_from_langchain(meta)
        if u is None:
            for holder in ("response", "message"):
                inner = _get(obj, holder)
                if inner is not None and _is_usage_container(inner) and _get(inner, "usage") is not None:
                    u = _get(inner, "usage")
                    break
        if u is None:
            u = obj
        if isinstance(u, Usage):
            return u
        if not _is_usage_container(u):
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
        elif not _is_usage_container(obj):
            return None
        for holder_key in _SELF_RESPONSE_MESSAGE:
            holder = obj if holder_key is None else _get(obj, holder_key)
            if holder is None or not _is_usage_container(holder):
                continue
            value = _get(holder, key)
            if isinstance(value, str) and value:
                return value
            meta = _get(holder, "response_metadata")
            if meta is not None:
                for meta_key in meta_keys:
                    value = _get(meta, meta_key)
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
        if not _is_usage_container(obj):
            return ()
        choices = _get(obj, "choices")
        if type(choices) is list or isinstance(choices, tuple):
            found = _reasons([_get(c, "finish_reason") for c in choices])
            if found:
                return found
        for holder in (obj, _get(obj, "delta"), _get(obj, "message")):
            if holder is None or not _is_usage_container(holder):
                continue
            found = _reasons((_get(holder, "stop_reason"),))
            if found:
                return found
            meta = _get(holder, "response_metadata")
            if meta is not None:
                found = _reasons((_get(meta, "finish_reason"), _get(meta, "stop_reason")))
                if found:
                    return found[:1]
        response = _get(obj, "response")
        target = response if response is not None and _is_usage_container(response) else obj
        if _get(target, "object") == "response":
            found = _reasons((_get(target, "status"),))
            if found:
                return found
    except Exception as exc:
        errors.report(_COMPONENT, exc)
    return ()
