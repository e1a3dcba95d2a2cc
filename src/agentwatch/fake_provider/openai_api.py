"""OpenAI wire format: chat completions, Responses API, embeddings, models."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import struct
import time
from collections.abc import Mapping
from typing import Any

from .models import EMBEDDING_DIMENSIONS, OPENAI_SNAPSHOTS, resolve_openai_model
from .openai_generation import (
    Generation,
    choose_tool,
    fingerprint,
    forced_tool,
    json_answer,
    limit,
    listed_function_tools,
    prompt_and_topic,
    require,
)
from .responses import answer_text, fill_schema, words
from .state import BadRequest, Reply, SSEEvent, State, dumps, split_fixed, split_text
from .tokens import (
    cached_tokens_for,
    canonical_json,
    count_tokens,
    encoding_for,
    prompt_tokens_for,
    reasoning_tokens_for,
    responses_input_tokens_for,
    responses_items,
)

# --- chat completions ----------------------------------------------------------------------------


def chat_completions(state: State, body: Mapping[str, Any]) -> Reply:
    model = require(body, "model", str)
    messages = require(body, "messages", list)
    if not messages:
        raise BadRequest("'messages' must contain at least one message.", "messages")
    if not all(isinstance(m, Mapping) for m in messages):
        raise BadRequest("Invalid type for 'messages': each message must be an object.", "messages")
    tools = body.get("tools") or None
    resolved = resolve_openai_model(model)
    enc = encoding_for(resolved)
    prompt_tokens = prompt_tokens_for(messages, tools, enc)
    seen = state.openai_cached_prefix("chat:" + resolved, messages, tools)
    cached = cached_tokens_for(prompt_tokens_for(messages[:seen], tools, enc)) if seen else 0

    last = messages[-1]
    prompt, topic = prompt_and_topic(messages)
    key = canonical_json(messages)
    gen = Generation(reasoning_tokens=reasoning_tokens_for(model, body.get("reasoning_effort")), encoding=enc)

    function_tools = listed_function_tools(tools, nested=True)
    forced, forced_name = forced_tool(body.get("tool_choice"), nested=True)
    wants_tool = (
        bool(function_tools) and body.get("tool_choice") != "none" and (last.get("role") == "user" or forced)
    )
    response_format = body.get("response_format")
    if wants_tool:
        name, parameters = choose_tool(function_tools, forced_name, prompt)
        gen.tool_name = name
        gen.tool_arguments = json.dumps(fill_schema(parameters), ensure_ascii=False)
    elif isinstance(response_format, Mapping) and response_format.get("type") == "json_schema":
        spec = response_format.get("json_schema") or {}
        gen.text = json_answer(spec.get("schema", {}) if isinstance(spec, Mapping) else {})
    elif isinstance(response_format, Mapping) and response_format.get("type") == "json_object":
        gen.text = json.dumps({"topic": topic, "answer": answer_text(topic, seed=state.seed, key=key)})
    else:
        after_tool = _tool_name_for_result(messages) if last.get("role") == "tool" else None
        gen.text = answer_text(topic, seed=state.seed, key=key, after_tool=after_tool)

    budget = body.get("max_completion_tokens", body.get("max_tokens"))
    gen = limit(gen, budget if isinstance(budget, int) else None, body.get("stop"))
    finish = "length" if gen.truncated else ("tool_calls" if gen.tool_name is not None else "stop")

    completion_tokens = gen.output_tokens
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": gen.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
    completion_id = state.new_id("chatcmpl-", 29)
    call_id = state.new_id("call_", 24) if gen.tool_name is not None else ""
    created = int(time.time())
    base = {
        "id": completion_id,
        "created": created,
        "model": resolved,
        "service_tier": "default",
        "system_fingerprint": fingerprint(resolved),
    }
    reply = Reply(input_tokens=prompt_tokens, output_tokens=completion_tokens)

    if not body.get("stream"):
        message: dict[str, Any] = {
            "role": "assistant",
            "content": gen.text if gen.tool_name is None else None,
            "refusal": None,
            "annotations": [],
        }
        if gen.tool_name is not None:
            message["tool_calls"] = [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": gen.tool_name, "arguments": gen.tool_arguments},
                }
            ]
        reply.body = {
            **base,
            "object": "chat.completion",
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": usage,
        }
        return reply

    options = body.get("stream_options")
    include_usage = isinstance(options, Mapping) and bool(options.get("include_usage"))
    chunk_base = {**base, "object": "chat.completion.chunk"}
    if include_usage:
        chunk_base["usage"] = None

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> SSEEvent:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return (None, dumps({**chunk_base, "choices": [choice]}))

    events: list[SSEEvent] = []
    if gen.tool_name is not None:
        first_call = {
            "index": 0,
            "id": call_id,
            "type": "function",
            "function": {"name": gen.tool_name, "arguments": ""},
        }
        events.append(
            chunk({"role": "assistant", "content": None, "tool_calls": [first_call], "refusal": None})
        )
        for piece in split_fixed(gen.tool_arguments):
            if piece:
                events.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
    else:
        events.append(chunk({"role": "assistant", "content": "", "refusal": None}))
        for piece in split_text(gen.text or ""):
            if piece:
                events.append(chunk({"content": piece}))
    events.append(chunk({}, finish))
    if include_usage:
        events.append((None, dumps({**chunk_base, "choices": [], "usage": usage})))
    reply.events = events
    reply.openai_done = True
    return reply


def _tool_name_for_result(messages: list[Any]) -> str:
    """Name of the tool whose result is the last message (from the assistant's tool calls)."""
    call_id = messages[-1].get("tool_call_id")
    for message in reversed(messages):
        for call in message.get("tool_calls") or []:
            if isinstance(call, Mapping) and call.get("id") == call_id:
                function = call.get("function") or {}
                return str(function.get("name", "the tool"))
    return "the tool"


# --- Responses API ---------------------------------------------------------------------------


def responses(state: State, body: Mapping[str, Any]) -> Reply:
    model = require(body, "model", str)
    raw_input = body.get("input")
    if raw_input is None or not isinstance(raw_input, (str, list)):
        raise BadRequest("Missing required parameter: 'input'.", "input")
    instructions = body.get("instructions")
    instructions = instructions if isinstance(instructions, str) else None
    tools = body.get("tools") or None
    items = responses_items(raw_input, instructions)
    if not items:
        raise BadRequest("'input' must not be empty.", "input")
    resolved = resolve_openai_model(model)
    enc = encoding_for(resolved)
    input_tokens = responses_input_tokens_for(raw_input, instructions, tools, enc)
    seen = state.openai_cached_prefix("responses:" + resolved, items, tools)
    cached = cached_tokens_for(responses_input_tokens_for(items[:seen], None, tools, enc)) if seen else 0

    last = items[-1]
    prompt, topic = prompt_and_topic(items)
    key = canonical_json(items)
    reasoning = body.get("reasoning")
    effort = reasoning.get("effort") if isinstance(reasoning, Mapping) else None
    gen = Generation(reasoning_tokens=reasoning_tokens_for(model, effort), encoding=enc)

    function_tools = listed_function_tools(tools, nested=False)
    forced, forced_name = forced_tool(body.get("tool_choice"), nested=False)
    last_is_user = last.get("role") == "user" and last.get("type", "message") == "message"
    wants_tool = bool(function_tools) and body.get("tool_choice") != "none" and (last_is_user or forced)
    text_cfg = body.get("text")
    fmt = text_cfg.get("format") if isinstance(text_cfg, Mapping) else None
    if wants_tool:
        name, parameters = choose_tool(function_tools, forced_name, prompt)
        gen.tool_name = name
        gen.tool_arguments = json.dumps(fill_schema(parameters), ensure_ascii=False)
    elif isinstance(fmt, Mapping) and fmt.get("type") == "json_schema":
        gen.text = json_answer(fmt.get("schema", {}))
    elif isinstance(fmt, Mapping) and fmt.get("type") == "json_object":
        gen.text = json.dumps({"topic": topic, "answer": answer_text(topic, seed=state.seed, key=key)})
    else:
        after_tool = None
        if last.get("type") == "function_call_output":
            after_tool = next(
                (
                    str(i.get("name"))
                    for i in items
                    if i.get("type") == "function_call" and i.get("call_id") == last.get("call_id")
                ),
                "the tool",
            )
        gen.text = answer_text(topic, seed=state.seed, key=key, after_tool=after_tool)

    budget = body.get("max_output_tokens")
    gen = limit(gen, budget if isinstance(budget, int) else None, None)
    output_tokens = gen.output_tokens
    usage = {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": gen.reasoning_tokens},
        "total_tokens": input_tokens + output_tokens,
    }
    response_id = "resp_" + state.new_id("", 48, "0123456789abcdef")
    output: list[dict[str, Any]] = []
    if gen.reasoning_tokens:
        output.append(
            {"id": "rs_" + state.new_id("", 48, "0123456789abcdef"), "type": "reasoning", "summary": []}
        )
    if gen.tool_name is not None and not (gen.truncated and not gen.tool_arguments):
        output.append(
            {
                "id": "fc_" + state.new_id("", 48, "0123456789abcdef"),
                "type": "function_call",
                "status": "completed",
                "arguments": gen.tool_arguments,
                "call_id": state.new_id("call_", 24),
                "name": gen.tool_name,
            }
        )
    elif gen.text is not None and not (gen.truncated and not gen.text):
        output.append(
            {
                "id": "msg_" + state.new_id("", 48, "0123456789abcdef"),
                "type": "message",
                "status": "incomplete" if gen.truncated else "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": gen.text, "annotations": [], "logprobs": []}],
            }
        )
    status = "incomplete" if gen.truncated else "completed"
    response: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if gen.truncated else None,
        "instructions": instructions,
        "max_output_tokens": budget if isinstance(budget, int) else None,
        "model": resolved,
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": effort, "summary": None},
        "service_tier": "default",
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": {"format": fmt if isinstance(fmt, Mapping) else {"type": "text"}, "verbosity": "medium"},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": list(tools or []),
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": body.get("metadata") or {},
    }
    reply = Reply(input_tokens=input_tokens, output_tokens=output_tokens)
    if not body.get("stream"):
        reply.body = response
        return reply
    reply.events = _response_events(response)
    return reply


def _response_events(response: dict[str, Any]) -> list[SSEEvent]:
    events: list[SSEEvent] = []

    def emit(kind: str, **fields: Any) -> None:
        events.append((kind, dumps({"type": kind, "sequence_number": len(events), **fields})))

    pending = {**response, "status": "in_progress", "output": [], "usage": None, "incomplete_details": None}
    emit("response.created", response=pending)
    emit("response.in_progress", response=pending)
    for index, item in enumerate(response["output"]):
        kind = item["type"]
        if kind == "message":
            part = item["content"][0]
            emit(
                "response.output_item.added",
                output_index=index,
                item={**item, "status": "in_progress", "content": []},
            )
            at = {"item_id": item["id"], "output_index": index, "content_index": 0}
            emit("response.content_part.added", **at, part={**part, "text": ""})
            for piece in split_text(part["text"]):
                if piece:
                    emit("response.output_text.delta", **at, delta=piece, logprobs=[])
            emit("response.output_text.done", **at, text=part["text"], logprobs=[])
            emit("response.content_part.done", **at, part=part)
        elif kind == "function_call":
            emit(
                "response.output_item.added",
                output_index=index,
                item={**item, "status": "in_progress", "arguments": ""},
            )
            for piece in split_fixed(item["arguments"]):
                if piece:
                    emit(
                        "response.function_call_arguments.delta",
                        item_id=item["id"],
                        output_index=index,
                        delta=piece,
                    )
            emit(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=index,
                name=item["name"],
                arguments=item["arguments"],
            )
        else:
            emit("response.output_item.added", output_index=index, item=item)
        emit("response.output_item.done", output_index=index, item=item)
    final = "response.incomplete" if response["status"] == "incomplete" else "response.completed"
    emit(final, response=response)
    return events


# --- embeddings ------------------------------------------------------------------------------

_FEATURES_PER_WORD = 8


def embedding_vector(text: str, dimensions: int) -> list[float]:
    """A deterministic unit vector: hashed bag of words, so texts sharing words are similar."""
    vector = [0.0] * dimensions
    for word in words(text) or [text]:
        digest = hashlib.blake2b(word.encode(), digest_size=4 * _FEATURES_PER_WORD).digest()
        for j in range(_FEATURES_PER_WORD):
            chunk = digest[4 * j : 4 * j + 4]
            index = int.from_bytes(chunk[:3], "little") % dimensions
            weight = 1.0 + (chunk[3] >> 1) / 128.0
            vector[index] += weight if chunk[3] & 1 else -weight
    norm = math.sqrt(sum(v * v for v in vector))
    if norm == 0.0:
        vector[0], norm = 1.0, 1.0
    packed = struct.pack(f"<{dimensions}f", *(v / norm for v in vector))
    return list(struct.unpack(f"<{dimensions}f", packed))


def embedding_tokens(item: Any, encoding: str = "cl100k_base") -> int:
    """Tokens of one embeddings input: a string by :func:`count_tokens`, a token array by length."""
    return count_tokens(item, encoding) if isinstance(item, str) else len(item)


def embeddings(state: State, body: Mapping[str, Any]) -> Reply:
    model = require(body, "model", str)
    raw = body.get("input")
    if raw is None:
        raise BadRequest("Missing required parameter: 'input'.", "input")
    if isinstance(raw, str) or (isinstance(raw, list) and raw and all(isinstance(t, int) for t in raw)):
        inputs: list[Any] = [raw]
    elif isinstance(raw, list) and raw:
        inputs = list(raw)
    else:
        raise BadRequest("'input' must be a non-empty string or array.", "input")
    for item in inputs:
        if not (isinstance(item, str) or (isinstance(item, list) and all(isinstance(t, int) for t in item))):
            raise BadRequest("Invalid type for 'input'.", "input")
        if item in ("", []):
            raise BadRequest("'$.input' is invalid. Please check the API reference.", "input")
    dims = body.get("dimensions")
    if dims is not None and (not isinstance(dims, int) or dims < 1):
        raise BadRequest("Invalid value for 'dimensions'.", "dimensions")
    size = dims or EMBEDDING_DIMENSIONS.get(model, 1536)
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise BadRequest("Invalid value for 'encoding_format'.", "encoding_format")
    data = []
    tokens = 0
    for index, item in enumerate(inputs):
        text = item if isinstance(item, str) else " ".join(str(t) for t in item)
        vector = embedding_vector(text, size)
        tokens += embedding_tokens(item, encoding_for(model))
        value: Any = vector
        if encoding == "base64":
            value = base64.b64encode(struct.pack(f"<{size}f", *vector)).decode("ascii")
        data.append({"object": "embedding", "index": index, "embedding": value})
    return Reply(
        body={
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        },
        input_tokens=tokens,
    )


def models(state: State) -> Reply:
    names = sorted({*OPENAI_SNAPSHOTS, *OPENAI_SNAPSHOTS.values(), *EMBEDDING_DIMENSIONS})
    return Reply(
        body={
            "object": "list",
            "data": [
                {"id": n, "object": "model", "created": 1_700_000_000, "owned_by": "system"} for n in names
            ],
        }
    )
