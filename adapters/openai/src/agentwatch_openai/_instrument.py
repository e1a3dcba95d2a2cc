"""Patching the OpenAI SDK: one client at a time (:func:`instrument`) or every client
(:class:`OpenAIInstrumentor`).

The SDK's resource methods are wrapped once, on their classes; a wrapper records a call only when
agentwatch is configured and the client it runs for is instrumented (one dict lookup otherwise).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection
from typing import Any, TypeVar

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from agentwatch import wrapping
from agentwatch_openai import _mapping as m

C = TypeVar("C")

COMPONENT = "openai"
_INSTRUMENTS = ("openai >= 1.66",)


SWITCH: wrapping.ClientSwitch[wrapping.ClientSettings] = wrapping.ClientSwitch(
    "_agentwatch_openai", wrapping.client_settings
)


def _is_stream(result: Any) -> bool:
    import openai

    return isinstance(result, (openai.Stream, openai.AsyncStream))


CHAT = wrapping.Operation(
    record=m.chat_record,
    read=m.read_chat,
    observe=m.chat_stream,
    is_stream=_is_stream,
    prepare=m.inject_usage,
    keep_headers=m.KEEP_HEADERS,
    record_keys=m.CHAT_KEYS,
)
RESPONSES = wrapping.Operation(
    record=m.responses_record,
    read=m.read_response,
    observe=m.responses_stream,
    is_stream=_is_stream,
    keep_headers=m.KEEP_HEADERS,
    record_keys=m.RESPONSES_KEYS,
)
EMBEDDINGS = wrapping.Operation(
    record=m.embeddings_record,
    read=m.read_embeddings,
    keep_headers=m.KEEP_HEADERS,
    record_keys=m.EMBEDDINGS_KEYS,
)


def _stream_helper(original: Callable[..., Any]) -> Callable[..., Any]:
    """``chat.completions.stream`` / ``responses.stream``: the request goes through ``create``
    (recorded there); the manager is wrapped so leaving its block ends a half-read stream."""

    @functools.wraps(original)
    def stream(self: Any, *args: Any, **kwargs: Any) -> Any:
        manager = original(self, *args, **kwargs)
        if SWITCH.settings(getattr(self, "_client", None)) is None:
            return manager
        return wrapping.StreamManagerProxy(manager, lambda enter: enter())

    return stream


_CHAT = "openai.resources.chat.completions"
_RESPONSES = "openai.resources.responses"
_EMBEDDINGS = "openai.resources.embeddings"
PATCHES: tuple[wrapping.Patch, ...] = (
    wrapping.method_patch(_CHAT, "Completions", "create", CHAT, SWITCH, is_async=False),
    wrapping.method_patch(_CHAT, "AsyncCompletions", "create", CHAT, SWITCH, is_async=True),
    wrapping.method_patch(_CHAT, "Completions", "parse", CHAT, SWITCH, is_async=False),
    wrapping.method_patch(_CHAT, "AsyncCompletions", "parse", CHAT, SWITCH, is_async=True),
    wrapping.Patch(_CHAT, "Completions", "stream", _stream_helper),
    wrapping.Patch(_CHAT, "AsyncCompletions", "stream", _stream_helper),
    wrapping.method_patch(_RESPONSES, "Responses", "create", RESPONSES, SWITCH, is_async=False),
    wrapping.method_patch(_RESPONSES, "AsyncResponses", "create", RESPONSES, SWITCH, is_async=True),
    wrapping.method_patch(_RESPONSES, "Responses", "parse", RESPONSES, SWITCH, is_async=False),
    wrapping.method_patch(_RESPONSES, "AsyncResponses", "parse", RESPONSES, SWITCH, is_async=True),
    wrapping.Patch(_RESPONSES, "Responses", "stream", _stream_helper),
    wrapping.Patch(_RESPONSES, "AsyncResponses", "stream", _stream_helper),
    wrapping.method_patch(_EMBEDDINGS, "Embeddings", "create", EMBEDDINGS, SWITCH, is_async=False),
    wrapping.method_patch(_EMBEDDINGS, "AsyncEmbeddings", "create", EMBEDDINGS, SWITCH, is_async=True),
    *(
        wrapping.Patch("openai", client, method, SWITCH.copy_wrapper)
        for client in ("OpenAI", "AsyncOpenAI", "AzureOpenAI", "AsyncAzureOpenAI")
        for method in ("copy", "with_options")
    ),
)


SDK = wrapping.SDKInstrumentation(COMPONENT, SWITCH, PATCHES)


def instrument(client: C, *, inject_stream_usage: bool = False) -> C:
    """Record every call made with ``client`` (an ``openai.OpenAI`` or ``openai.AsyncOpenAI``, or a
    compatible client such as ``AzureOpenAI``) and with the copies ``with_options`` makes of it.

    ``inject_stream_usage=True`` adds ``stream_options={"include_usage": True}`` to streamed chat
    requests that did not ask for it, so their usage is reported instead of estimated, and hides
    the extra usage-only chunk from the caller. Returns ``client`` itself.
    """
    return SDK.instrument_client(client, **{m.INJECT_STREAM_USAGE: inject_stream_usage})


def uninstrument(client: Any) -> None:
    """Stop recording ``client`` (the SDK stays patched for other instrumented clients)."""
    SDK.uninstrument_client(client)


class OpenAIInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Record every OpenAI client in the process, OpenTelemetry ``BaseInstrumentor`` style.

    ``instrument(inject_stream_usage=False, configure=True, tracer_provider=None,
    meter_provider=None)``: when agentwatch is not configured yet and ``configure`` is true, it
    calls :func:`agentwatch.configure` with the given providers (the global ones otherwise).
    ``uninstrument()`` stops recording and restores the SDK unless single clients are still
    instrumented with :func:`instrument`.
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return _INSTRUMENTS

    def _instrument(self, **kwargs: Any) -> None:
        SDK.instrument_all(kwargs, **{m.INJECT_STREAM_USAGE: bool(kwargs.get(m.INJECT_STREAM_USAGE, False))})

    def _uninstrument(self, **kwargs: Any) -> None:
        SDK.uninstrument_all()
