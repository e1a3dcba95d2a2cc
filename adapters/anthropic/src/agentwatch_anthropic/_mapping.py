"""Anthropic requests and answers -> agentwatch records and call data. Pure: no I/O, no patching.

Read by duck typing (SDK objects or plain dicts of the same JSON). Anthropic's ``input_tokens``
excludes the prompt cache; :mod:`agentwatch.normalize` adds cache reads and writes back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from agentwatch import names, normalize, tokens
from agentwatch.call import Call
from agentwatch.records import Inference
from agentwatch.usage import Usage
from agentwatch.wrapping import (
    ClientSettings,
    StreamObserver,
    capturing,
    get,
    inference,
    read_identity,
    request_numbers,
)

PROVIDER = "anthropic"

KEEP_HEADERS: tuple[str, ...] = (
    "anthropic-ratelimit-requests-remaining",
    "anthropic-ratelimit-tokens-remaining",
    "anthropic-ratelimit-input-tokens-remaining",
    "anthropic-ratelimit-output-tokens-remaining",
    "retry-after",
    "request-id",
)
"""Response headers recorded as ``http.response.header.*`` (rate limits, retry hint, request id)."""

_NUMBERS = (
    ("max_tokens", names.GEN_AI_REQUEST_MAX_TOKENS),
    ("temperature", names.GEN_AI_REQUEST_TEMPERATURE),
    ("top_p", names.GEN_AI_REQUEST_TOP_P),
    ("top_k", names.GEN_AI_REQUEST_TOP_K),
)
_TOOL_BLOCKS = ("tool_use", "server_tool_use")

MESSAGE_KEYS = ("model", "stream", *(key for key, _ in _NUMBERS), "stop_sequences")
"""The arguments a message record is made of, content (messages, system) aside
(``Operation.record_keys``); :func:`message_record` reads no other argument."""


def message_record(settings: ClientSettings, kwargs: Mapping[str, Any]) -> Inference:
    """The record of a ``messages.create`` / ``parse`` / ``stream`` call."""
    request = request_numbers(kwargs, _NUMBERS)
    stop = kwargs.get("stop_sequences")
    if isinstance(stop, (list, tuple)) and stop and all(isinstance(s, str) for s in stop):
        request[names.GEN_AI_REQUEST_STOP_SEQUENCES] = tuple(stop)
    system = kwargs.get("system")
    return inference(
        PROVIDER,
        names.OP_CHAT,
        settings,
        kwargs,
        request,
        input_messages=kwargs.get("messages"),
        system_instructions=system if isinstance(system, (str, list)) else None,
    )


def read_message(call: Call, message: Any) -> None:
    """Usage (cache and thinking included), model, id, stop reason and tool calls of a ``Message``."""
    read_identity(call, message, normalize.usage_from_anthropic)
    reason = get(message, "stop_reason")
    if isinstance(reason, str):
        call.set_finish_reasons((reason,))
    content = get(message, "content") or ()
    tools = [
        name
        for block in content
        if get(block, "type") in _TOOL_BLOCKS and isinstance(name := get(block, "name"), str)
    ]
    if tools:
        call.set_tool_calls(tools)
    if capturing():
        call.set_output(
            "".join(t for b in content if get(b, "type") == "text" and isinstance(t := get(b, "text"), str))
        )


class MessageStream(StreamObserver):
    """Reads raw Messages stream events: ``message_start`` carries the input usage, each
    ``message_delta`` the cumulative output; a stream cut short gets an estimated output."""

    __slots__ = ("calls", "kwargs", "model", "reason", "saw_delta", "text", "thinking", "tools", "usage")

    def __init__(self, settings: ClientSettings, kwargs: Mapping[str, Any], record: Inference) -> None:
        self.kwargs = kwargs
        self.model = record.model
        self.usage = normalize.AnthropicStreamUsage()
        self.saw_delta = False
        self.reason: str | None = None
        self.text: list[str] = []
        self.thinking: list[str] = []
        self.tools: list[str] = []
        self.calls: list[str] = []  # tool names and their JSON input, for an estimate

    def on_item(self, call: Call, item: Any) -> bool:
        # Stream items are the SDK's objects: plain attribute reads (this runs for every event).
        kind = getattr(item, "type", None)
        if kind == "content_block_delta":
            delta = item.delta
            delta_kind = delta.type
            if delta_kind == "text_delta":
                self.text.append(delta.text or "")
            elif delta_kind == "thinking_delta":
                self.thinking.append(delta.thinking or "")
            elif delta_kind == "input_json_delta":
                self.calls.append(delta.partial_json or "")
        elif kind == "content_block_start":
            block = get(item, "content_block")
            name = get(block, "name")
            if get(block, "type") in _TOOL_BLOCKS and isinstance(name, str):
                self.tools.append(name)
                self.calls.append(name)
        elif kind == "message_start":
            self.usage.feed(item)
            message = get(item, "message")
            call.set_response_model(get(message, "model"))
            call.set_response_id(get(message, "id"))
        elif kind == "message_delta":
            self.usage.feed(item)
            self.saw_delta = True
            reason = get(get(item, "delta"), "stop_reason")
            if isinstance(reason, str):
                self.reason = reason
        return True

    def on_end(self, call: Call, complete: bool) -> None:
        if self.reason:
            call.set_finish_reasons((self.reason,))
        if self.tools:
            call.set_tool_calls(self.tools)
        if self.saw_delta:
            call.set_usage(self.usage.usage())
        else:
            call.set_usage(self._estimate())
        if capturing():
            call.set_output("".join(self.text))

    def _estimate(self) -> Usage:
        """Output counted from what arrived; input as reported by ``message_start`` when it came."""
        thinking = tokens.count_tokens("".join(self.thinking), self.model) if self.thinking else 0
        output = tokens.count_tokens("".join(self.text) + "".join(self.calls), self.model) + thinking
        started = self.usage.usage() if self.usage.seen else None
        if started is None:
            system = self.kwargs.get("system")
            prompt = [
                *([{"role": "system", "content": system}] if system else []),
                *(self.kwargs.get("messages") or ()),
            ]
            started = Usage(input_tokens=tokens.count_tokens(prompt, self.model))
        return dataclasses.replace(started, output_tokens=output, reasoning_tokens=thinking, estimated=True)


def message_stream(settings: ClientSettings, kwargs: Mapping[str, Any], record: Inference) -> StreamObserver:
    return MessageStream(settings, kwargs, record)
