"""OpenAI requests and answers -> agentwatch records and call data. Pure: no I/O, no patching.

Everything is read by duck typing (attribute access, or ``Mapping.get`` for dicts), so SDK objects
and plain dicts of the same JSON both work, and fields the SDK does not have are simply absent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agentwatch import names, normalize, tokens
from agentwatch.call import Call
from agentwatch.records import AttributeValue, Inference
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

PROVIDER = "openai"
INJECT_STREAM_USAGE = "inject_stream_usage"

KEEP_HEADERS: tuple[str, ...] = (
    "x-ratelimit-remaining-requests",
    "x-ratelimit-remaining-tokens",
    "retry-after",
    "x-request-id",
)
"""Response headers recorded as ``http.response.header.*`` (rate limits, retry hint, request id)."""

_CHAT_NUMBERS = (
    ("temperature", names.GEN_AI_REQUEST_TEMPERATURE),
    ("top_p", names.GEN_AI_REQUEST_TOP_P),
    ("frequency_penalty", names.GEN_AI_REQUEST_FREQUENCY_PENALTY),
    ("presence_penalty", names.GEN_AI_REQUEST_PRESENCE_PENALTY),
    ("seed", names.GEN_AI_REQUEST_SEED),
    ("max_tokens", names.GEN_AI_REQUEST_MAX_TOKENS),
    ("max_completion_tokens", names.GEN_AI_REQUEST_MAX_TOKENS),
)
_RESPONSES_NUMBERS = (
    ("temperature", names.GEN_AI_REQUEST_TEMPERATURE),
    ("top_p", names.GEN_AI_REQUEST_TOP_P),
    ("max_output_tokens", names.GEN_AI_REQUEST_MAX_TOKENS),
)

# The arguments each record is made of, content aside (``Operation.record_keys``: a record is made
# once per client for the same values of these). A record function reads no other argument but
# the content ones (messages, input, instructions); the tests hold it to that.
CHAT_KEYS = ("model", "stream", *(key for key, _ in _CHAT_NUMBERS), "stop", "n", "response_format")
RESPONSES_KEYS = ("model", "stream", *(key for key, _ in _RESPONSES_NUMBERS), "text", "text_format")
EMBEDDINGS_KEYS = ("model", "stream", "encoding_format", "dimensions")


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def _output_type(response_format: Any) -> str | None:
    if isinstance(response_format, type):  # a pydantic model given to ``parse``
        return "json"
    kind = get(response_format, "type")
    if kind in ("json_schema", "json_object"):
        return "json"
    return "text" if kind == "text" else None


def chat_record(settings: ClientSettings, kwargs: Mapping[str, Any]) -> Inference:
    """The record of a ``chat.completions.create`` / ``parse`` call."""
    request = request_numbers(kwargs, _CHAT_NUMBERS)
    stop = kwargs.get("stop")
    if isinstance(stop, str):
        request[names.GEN_AI_REQUEST_STOP_SEQUENCES] = (stop,)
    elif isinstance(stop, (list, tuple)) and stop and all(isinstance(s, str) for s in stop):
        request[names.GEN_AI_REQUEST_STOP_SEQUENCES] = tuple(stop)
    n = kwargs.get("n")
    if isinstance(n, int) and not isinstance(n, bool) and n != 1:
        request[names.GEN_AI_REQUEST_CHOICE_COUNT] = n
    output_type = _output_type(kwargs.get("response_format"))
    if output_type is not None:
        request[names.GEN_AI_OUTPUT_TYPE] = output_type
    return inference(
        PROVIDER, names.OP_CHAT, settings, kwargs, request, input_messages=kwargs.get("messages")
    )


def responses_record(settings: ClientSettings, kwargs: Mapping[str, Any]) -> Inference:
    """The record of a ``responses.create`` / ``parse`` call."""
    request = request_numbers(kwargs, _RESPONSES_NUMBERS)
    text = kwargs.get("text")
    output_type = _output_type(get(text, "format")) if text is not None else None
    if kwargs.get("text_format") is not None and isinstance(kwargs.get("text_format"), type):
        output_type = "json"
    if output_type is not None:
        request[names.GEN_AI_OUTPUT_TYPE] = output_type
    instructions = kwargs.get("instructions")
    return inference(
        PROVIDER,
        names.OP_CHAT,
        settings,
        kwargs,
        request,
        input_messages=kwargs.get("input"),
        system_instructions=instructions if isinstance(instructions, str) else None,
    )


def embeddings_record(settings: ClientSettings, kwargs: Mapping[str, Any]) -> Inference:
    """The record of an ``embeddings.create`` call."""
    request: dict[str, AttributeValue] = {}
    encoding = kwargs.get("encoding_format")
    if isinstance(encoding, str):
        request[names.GEN_AI_REQUEST_ENCODING_FORMATS] = (encoding,)
    dimensions = _number(kwargs.get("dimensions"))
    if isinstance(dimensions, int):
        request[names.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = dimensions
    return inference(
        PROVIDER, names.OP_EMBEDDINGS, settings, kwargs, request, input_messages=kwargs.get("input")
    )


# --- plain answers ---------------------------------------------------------------------------
def read_chat(call: Call, completion: Any) -> None:
    """Usage, model, id, finish reasons and tool calls of a ``ChatCompletion``."""
    read_identity(call, completion, normalize.usage_from_openai_chat)
    choices = get(completion, "choices") or ()
    reasons: list[str] = []
    tools: list[str] = []
    for choice in choices:
        reason = get(choice, "finish_reason")
        if isinstance(reason, str):
            reasons.append(reason)
        message = get(choice, "message")
        for tool_call in get(message, "tool_calls") or ():
            name = _tool_name(tool_call)
            if name:
                tools.append(name)
    if reasons:
        call.set_finish_reasons(reasons)
    if tools:
        call.set_tool_calls(tools)
    if capturing():
        call.set_output([_plain(get(c, "message")) for c in choices])


def _tool_name(tool_call: Any) -> str | None:
    function = get(tool_call, "function") or get(tool_call, "custom")
    name = get(function, "name")
    return name if isinstance(name, str) and name else None


def _plain(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return dump(exclude_none=True)
        except Exception:
            return str(value)
    return value


def read_response(call: Call, response: Any) -> None:
    """Usage, model, id, status and function calls of a Responses API ``Response``."""
    read_identity(call, response, normalize.usage_from_openai_responses)
    details = get(response, "incomplete_details")
    reason = get(details, "reason") if details is not None else None
    status = reason or get(response, "status")
    if isinstance(status, str) and status:
        call.set_finish_reasons((status,))
    tools = [
        item_name
        for item in get(response, "output") or ()
        if get(item, "type") == "function_call" and isinstance(item_name := get(item, "name"), str)
    ]
    if tools:
        call.set_tool_calls(tools)
    if capturing():
        text = get(response, "output_text")
        call.set_output(text if isinstance(text, str) else None)


def read_embeddings(call: Call, result: Any) -> None:
    """Usage, model and vector size of a ``CreateEmbeddingResponse``."""
    read_identity(call, result, normalize.usage_from_openai_embeddings)
    data = get(result, "data") or ()
    if data and names.GEN_AI_EMBEDDINGS_DIMENSION_COUNT not in _request(call):
        vector = get(data[0], "embedding")
        if isinstance(vector, list):
            call.set_attribute(names.GEN_AI_EMBEDDINGS_DIMENSION_COUNT, len(vector))


def _request(call: Call) -> Mapping[str, AttributeValue]:
    record = call.record
    return record.request if isinstance(record, Inference) else {}


# --- streams -------------------------------------------------------------------------------------
def _tools_json(tools: Any) -> str:
    if not tools or not isinstance(tools, (list, tuple)):
        return ""
    try:
        return json.dumps([_plain(t) for t in tools], sort_keys=True, separators=(",", ":"), default=str)
    except Exception:
        return ""


def estimated_usage(model: str, prompt: Any, completion: str, extra_prompt: str = "") -> Usage:
    """Usage counted with the tokenizer (``estimated=True``): for a stream that reported none."""
    inp = tokens.count_tokens(prompt, model) if prompt else 0
    if extra_prompt:
        inp += tokens.count_tokens(extra_prompt, model)
    out = tokens.count_tokens(completion, model) if completion else 0
    return Usage(input_tokens=inp, output_tokens=out, estimated=True)


class ChatStream(StreamObserver):
    """Reads ``ChatCompletionChunk`` s: usage from the final chunk (or an estimate), finish
    reasons, tool calls; hides the usage-only chunk when agentwatch asked for it."""

    __slots__ = ("hide_usage", "kwargs", "model", "reasons", "text", "tools")

    def __init__(self, settings: ClientSettings, kwargs: Mapping[str, Any], record: Inference) -> None:
        self.kwargs = kwargs
        self.model = record.model
        self.hide_usage = settings.flag(INJECT_STREAM_USAGE) and not asked_for_usage(kwargs)
        self.text: list[str] = []
        self.tools: dict[int, list[str]] = {}
        self.reasons: dict[int, str] = {}

    def on_item(self, call: Call, item: Any) -> bool:
        # Stream items are the SDK's objects: plain attribute reads (this runs for every chunk).
        try:
            choices = item.choices
            usage = item.usage
        except AttributeError:  # a chunk from an OpenAI-compatible server that lacks a field
            choices = getattr(item, "choices", None)
            usage = getattr(item, "usage", None)
        if usage is not None:
            call.set_usage(normalize.usage_from_openai_chat(usage))
            if self.hide_usage and not choices:
                return False
        if choices:
            for choice in choices:
                delta = choice.delta
                if delta is not None:
                    content = delta.content
                    if content:
                        self.text.append(content)
                    tool_calls = delta.tool_calls
                    if tool_calls:
                        for tool_call in tool_calls:
                            self._tool_delta(tool_call)
                reason = choice.finish_reason
                if reason:
                    self.reasons[choice.index or 0] = reason
        if call.response_model is None:
            call.set_response_model(getattr(item, "model", None))
            call.set_response_id(getattr(item, "id", None))
        return True

    def _tool_delta(self, tool_call: Any) -> None:
        index = get(tool_call, "index") or 0
        function = get(tool_call, "function")
        entry = self.tools.setdefault(index, ["", ""])
        name = get(function, "name")
        if name:
            entry[0] += name
        arguments = get(function, "arguments")
        if arguments:
            entry[1] += arguments

    def on_end(self, call: Call, complete: bool) -> None:
        reasons = self.reasons
        if reasons:  # (one choice, one reason: the common case, without sorting)
            call.set_finish_reasons(
                tuple(reasons.values()) if len(reasons) == 1 else [reasons[i] for i in sorted(reasons)]
            )
        if self.tools:
            names_ = [name for name, _ in (self.tools[i] for i in sorted(self.tools)) if name]
            if names_:
                call.set_tool_calls(names_)
        if call.usage is None:
            completion = "".join(self.text) + "".join(name + args for name, args in self.tools.values())
            call.set_usage(
                estimated_usage(
                    self.model, self.kwargs.get("messages"), completion, _tools_json(self.kwargs.get("tools"))
                )
            )
        if capturing():
            call.set_output("".join(self.text))


class ResponsesStream(StreamObserver):
    """Reads Responses API stream events: the final ``response.*`` event carries the usage."""

    __slots__ = ("kwargs", "model", "text", "tools")

    def __init__(self, settings: ClientSettings, kwargs: Mapping[str, Any], record: Inference) -> None:
        self.kwargs = kwargs
        self.model = record.model
        self.text: list[str] = []
        self.tools: list[str] = []

    def on_item(self, call: Call, item: Any) -> bool:
        kind = getattr(item, "type", None)
        if kind in ("response.output_text.delta", "response.function_call_arguments.delta"):
            delta = getattr(item, "delta", None)
            if isinstance(delta, str):
                self.text.append(delta)
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            read_response(call, get(item, "response"))
        elif kind == "response.created":
            response = get(item, "response")
            call.set_response_model(get(response, "model"))
            call.set_response_id(get(response, "id"))
        elif kind == "response.output_item.added":
            output = get(item, "item")
            name = get(output, "name")
            if get(output, "type") == "function_call" and isinstance(name, str):
                self.tools.append(name)
        return True

    def on_end(self, call: Call, complete: bool) -> None:
        if not call.tool_calls and self.tools:
            call.set_tool_calls(self.tools)
        if call.usage is None:
            instructions = self.kwargs.get("instructions")
            prompt = self.kwargs.get("input")
            extra = (instructions if isinstance(instructions, str) else "") + _tools_json(
                self.kwargs.get("tools")
            )
            call.set_usage(estimated_usage(self.model, prompt, "".join(self.text), extra))
        if capturing() and call.output is None:
            call.set_output("".join(self.text))


def chat_stream(settings: ClientSettings, kwargs: Mapping[str, Any], record: Inference) -> StreamObserver:
    return ChatStream(settings, kwargs, record)


def responses_stream(
    settings: ClientSettings, kwargs: Mapping[str, Any], record: Inference
) -> StreamObserver:
    return ResponsesStream(settings, kwargs, record)


def asked_for_usage(kwargs: Mapping[str, Any]) -> bool:
    options = kwargs.get("stream_options")
    return bool(get(options, "include_usage")) if isinstance(options, Mapping) else False


def inject_usage(settings: ClientSettings, kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """With ``inject_stream_usage``, a streamed chat request also asks for the usage chunk."""
    if not settings.flag(INJECT_STREAM_USAGE) or kwargs.get("stream") is not True or asked_for_usage(kwargs):
        return None
    options = kwargs.get("stream_options")
    merged = {**options, "include_usage": True} if isinstance(options, Mapping) else {"include_usage": True}
    return {**kwargs, "stream_options": merged}
