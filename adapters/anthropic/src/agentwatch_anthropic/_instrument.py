"""Patching the Anthropic SDK: one client at a time (:func:`instrument`) or every client
(:class:`AnthropicInstrumentor`).

The SDK's resource methods are wrapped once, on their classes; a wrapper records a call only when
agentwatch is configured and the client it runs for is instrumented (one dict lookup otherwise).
An instrumented client's own OpenTelemetry span (``anthropic.messages.create``) is switched off,
so each call is one span named by the conventions and nothing is counted twice.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from agentwatch import errors, wrapping
from agentwatch.client_patching import Maker
from agentwatch_anthropic import _mapping as m

C = TypeVar("C")

COMPONENT = "anthropic"
_INSTRUMENTS = ("anthropic >= 0.40",)


def disable_sdk_spans(client: Any) -> None:
    """Switch off the SDK's own tracing (and its trace-context headers) on ``client``."""
    setter = getattr(client, "_set_open_telemetry", None)
    current = getattr(client, "open_telemetry", None)
    if not callable(setter) or not isinstance(current, Mapping):
        return  # an SDK without its own tracing
    traces = current.get("traces")
    traces = dict(traces) if isinstance(traces, Mapping) else {}
    if traces.get("enabled") is False and current.get("propagation") is False:
        return
    setter({**current, "traces": {**traces, "enabled": False}, "propagation": False})


def _client_settings(client: Any, settings: Mapping[str, Any]) -> wrapping.ClientSettings:
    made = wrapping.client_settings(client, settings)
    try:
        disable_sdk_spans(client)
    except Exception as exc:
        errors.report(COMPONENT, exc)
    return made


SWITCH: wrapping.ClientSwitch[wrapping.ClientSettings] = wrapping.ClientSwitch(
    "_agentwatch_anthropic", _client_settings
)


def _is_stream(result: Any) -> bool:
    import anthropic

    return isinstance(result, (anthropic.Stream, anthropic.AsyncStream))


MESSAGES = wrapping.Operation(
    record=m.message_record,
    read=m.read_message,
    observe=m.message_stream,
    is_stream=_is_stream,
    keep_headers=m.KEEP_HEADERS,
    record_keys=m.MESSAGE_KEYS,
)


def _swap_raw_stream(stream: Any, call: Any, record: Any, settings: Any, kwargs: Mapping[str, Any]) -> None:
    """Read the helper's raw events through a proxy (the helper reads its ``_raw_stream`` lazily)."""
    if call is None:
        return
    raw = getattr(stream, "_raw_stream", None)
    if raw is None:  # an SDK whose helper keeps the raw stream elsewhere: end without usage
        errors.report(COMPONENT, "messages.stream(): no raw stream found; usage not recorded")
        wrapping.end_call(call)
        return
    stream._raw_stream = wrapping.stream_proxy(raw, call, m.message_stream(settings, kwargs, record))


def _stream_helper(is_async: bool) -> Maker:
    """``messages.stream(...)``: the request is sent when its block is entered, so that is where the
    call starts; the stream helper then reads its events through a recording proxy."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def stream(self: Any, *args: Any, **kwargs: Any) -> Any:
            manager = original(self, *args, **kwargs)
            settings = SWITCH.settings(getattr(self, "_client", None))
            if settings is None:
                return manager
            sent = {**kwargs, "stream": True}

            def enter(real_enter: Callable[[], Any]) -> Any:
                result, call, record = wrapping.run_recorded(MESSAGES, settings, sent, lambda _: real_enter())
                _swap_raw_stream(result, call, record, settings, sent)
                return result

            async def enter_async(real_enter: Callable[[], Any]) -> Any:
                result, call, record = await wrapping.run_recorded_async(
                    MESSAGES, settings, sent, lambda _: real_enter()
                )
                _swap_raw_stream(result, call, record, settings, sent)
                return result

            return wrapping.StreamManagerProxy(manager, enter_async if is_async else enter)

        return stream

    return make


def _patches(module: str) -> tuple[wrapping.Patch, ...]:
    return (
        wrapping.method_patch(module, "Messages", "create", MESSAGES, SWITCH, is_async=False),
        wrapping.method_patch(module, "AsyncMessages", "create", MESSAGES, SWITCH, is_async=True),
        wrapping.method_patch(module, "Messages", "parse", MESSAGES, SWITCH, is_async=False),
        wrapping.method_patch(module, "AsyncMessages", "parse", MESSAGES, SWITCH, is_async=True),
        wrapping.Patch(module, "Messages", "stream", _stream_helper(is_async=False)),
        wrapping.Patch(module, "AsyncMessages", "stream", _stream_helper(is_async=True)),
    )


PATCHES: tuple[wrapping.Patch, ...] = (
    *_patches("anthropic.resources.messages"),
    *_patches("anthropic.resources.beta.messages"),
    *(
        wrapping.Patch(module, client, method, SWITCH.copy_wrapper)
        for module, client in (
            ("anthropic", "Anthropic"),
            ("anthropic", "AsyncAnthropic"),
            ("anthropic", "AnthropicFoundry"),
            ("anthropic", "AsyncAnthropicFoundry"),
            ("anthropic.lib.bedrock._client", "AnthropicBedrock"),
            ("anthropic.lib.bedrock._client", "AsyncAnthropicBedrock"),
            ("anthropic.lib.vertex._client", "AnthropicVertex"),
            ("anthropic.lib.vertex._client", "AsyncAnthropicVertex"),
        )
        for method in ("copy", "with_options")
    ),
)


SDK = wrapping.SDKInstrumentation(COMPONENT, SWITCH, PATCHES)


def instrument(client: C) -> C:
    """Record every call made with ``client`` (an ``anthropic.Anthropic`` or ``AsyncAnthropic``) and
    with the copies ``with_options`` makes of it; its own SDK span is switched off. Returns
    ``client`` itself."""
    return SDK.instrument_client(client)


def uninstrument(client: Any) -> None:
    """Stop recording ``client`` (the SDK stays patched for other instrumented clients)."""
    SDK.uninstrument_client(client)


class AnthropicInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Record every Anthropic client in the process, OpenTelemetry ``BaseInstrumentor`` style.

    ``instrument(configure=True, tracer_provider=None, meter_provider=None)``: when agentwatch is
    not configured yet and ``configure`` is true, it calls :func:`agentwatch.configure` with the
    given providers. A client's own SDK span is switched off the first time it is used.
    ``uninstrument()`` stops recording and restores the SDK unless single clients are still
    instrumented with :func:`instrument`.
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return _INSTRUMENTS

    def _instrument(self, **kwargs: Any) -> None:
        SDK.instrument_all(kwargs)

    def _uninstrument(self, **kwargs: Any) -> None:
        SDK.uninstrument_all()
