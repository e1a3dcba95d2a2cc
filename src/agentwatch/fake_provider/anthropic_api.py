"""Anthropic wire format: Messages (plain and streamed), token counting, models."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .models import ANTHROPIC_SNAPSHOTS, resolve_anthropic_model
from .responses import answer_text, fill_schema, pick_tool, text_of, thinking_text, tool_preface, topic_of
from .state import BadRequest, Reply, SSEEvent, State, dumps, split_fixed, split_text
from .tokens import (
    ANTHROPIC_ENCODING,
    anthropic_input_tokens_for,
    anthropic_prompt_units,
    canonical_json,
    compact_json,
    count_tokens,
    tool_call_tokens,
    truncate,
)

MIN_THINKING_BUDGET = 1024
"""The smallest ``thinking.budget_tokens`` the API accepts."""

_ID_ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


@dataclass
class _Block:
    kind: str  # "thinking" | "text" | "tool_use"
    text: str = ""
    name: str = ""
    input: dict[str, Any] = field(default_factory=dict)
    tool_id: str = ""

    @property
    def tokens(self) -> int:
        if self.kind == "tool_use":
            return tool_call_tokens(self.name, self.input, ANTHROPIC_ENCODING)
        return count_tokens(self.text, ANTHROPIC_ENCODING)


def _last_tool_result(messages: list[Any]) -> str | None:
    """Name of the tool whose result ends the conversation (None when the last turn is plain text)."""
    content = messages[-1].get("content")
    if not isinstance(content, list):
        return None
    ids = [b.get("tool_use_id") for b in content if isinstance(b, Mapping) and b.get("type") == "tool_result"]
    if not ids:
        return None
    for message in reversed(messages):
        for block in message.get("content") if isinstance(message.get("content"), list) else []:
            if isinstance(block, Mapping) and block.get("type") == "tool_use" and block.get("id") in ids:
                return str(block.get("name", "the tool"))
    return "the tool"


def _validate(body: Mapping[str, Any]) -> tuple[str, list[Any], int]:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("model: Field required")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages: at least one message is required")
    if not all(isinstance(m, Mapping) and m.get("role") in ("user", "assistant") for m in messages):
        raise BadRequest("messages: each message needs a role of 'user' or 'assistant'")
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise BadRequest("max_tokens: Field required")
    return model, messages, max_tokens


def _thinking_budget(body: Mapping[str, Any], max_tokens: int) -> int | None:
    thinking = body.get("thinking")
    if not isinstance(thinking, Mapping) or thinking.get("type") not in ("enabled", "adaptive"):
        return None
    if thinking.get("type") == "adaptive":  # the model decides; it may use all but one token
        return max_tokens - 1
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or budget < MIN_THINKING_BUDGET:
        raise BadRequest(
            f"thinking.enabled.budget_tokens: Input should be greater than or equal to {MIN_THINKING_BUDGET}"
        )
    if budget >= max_tokens:
        raise BadRequest("`max_tokens` must be greater than `thinking.budget_tokens`.")
    return budget


def _signature(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:64]


def messages(state: State, body: Mapping[str, Any]) -> Reply:
    model, msgs, max_tokens = _validate(body)
    budget = _thinking_budget(body, max_tokens)
    resolved = resolve_anthropic_model(model)
    system = body.get("system")
    tools = body.get("tools") or None
    units = anthropic_prompt_units(msgs, system, tools, body.get("cache_control"))
    plan = state.anthropic_cache(units, resolved)

    system_text = system if isinstance(system, str) else text_of(system)
    user_texts = [text_of(m.get("content")) for m in msgs if m.get("role") == "user"]
    prompt = user_texts[-1] if user_texts else ""
    topic = topic_of(prompt, system_text)
    key = canonical_json({"m": msgs, "s": system})

    blocks: list[_Block] = []
    if budget is not None:
        blocks.append(_Block("thinking", text=truncate(thinking_text(seed=state.seed, key=key), budget)))
    after_tool = _last_tool_result(msgs)
    choice = body.get("tool_choice")
    choice_type = choice.get("type") if isinstance(choice, Mapping) else None
    choice_name = choice.get("name") if isinstance(choice, Mapping) else None
    named = [t for t in tools or [] if isinstance(t, Mapping) and isinstance(t.get("name"), str)]
    forced = choice_type in ("any", "tool")
    if named and choice_type != "none" and (after_tool is None or forced):
        names = [str(t["name"]) for t in named]
        index = names.index(choice_name) if choice_type == "tool" and choice_name in names else None
        tool = named[index if index is not None else pick_tool(names, prompt)]
        if not forced:
            blocks.append(_Block("text", text=tool_preface(tool["name"], seed=state.seed, key=key)))
        arguments = fill_schema(tool.get("input_schema") or {"type": "object", "properties": {}})
        blocks.append(_Block("tool_use", name=tool["name"], input=dict(arguments), tool_id=""))
    else:
        blocks.append(
            _Block("text", text=answer_text(topic, seed=state.seed, key=key, after_tool=after_tool))
        )

    stop_reason, stop_sequence = _limit(blocks, max_tokens, body.get("stop_sequences"))
    for block in blocks:
        if block.kind == "tool_use":
            block.tool_id = state.new_id("toolu_01", 22, _ID_ALPHABET)
    thinking_tokens = sum(b.tokens for b in blocks if b.kind == "thinking")
    output_tokens = sum(b.tokens for b in blocks)

    usage: dict[str, Any] = {
        "input_tokens": plan.input_tokens,
        "cache_creation_input_tokens": plan.cache_write,
        "cache_read_input_tokens": plan.cache_read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": plan.cache_write_5m,
            "ephemeral_1h_input_tokens": plan.cache_write_1h,
        },
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }
    if budget is not None:
        usage["output_tokens_details"] = {"thinking_tokens": thinking_tokens}
    message: dict[str, Any] = {
        "id": state.new_id("msg_01", 22, _ID_ALPHABET),
        "type": "message",
        "role": "assistant",
        "model": resolved,
        "content": [_wire(b) for b in blocks],
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": usage,
    }
    reply = Reply(input_tokens=plan.total, output_tokens=output_tokens)
    if not body.get("stream"):
        reply.body = message
        return reply
    reply.events = _stream_events(message)
    return reply


def _limit(blocks: list[_Block], max_tokens: int, stop_sequences: Any) -> tuple[str, str | None]:
    """Apply stop sequences and ``max_tokens``; return (stop_reason, stop_sequence)."""
    stop_reason = "tool_use" if any(b.kind == "tool_use" for b in blocks) else "end_turn"
    stop_sequence = None
    sequences = [s for s in stop_sequences or [] if isinstance(s, str) and s]
    for block in blocks:
        if block.kind != "text" or not sequences:
            continue
        hits = [(block.text.find(s), s) for s in sequences if s in block.text]
        if hits:
            cut, stop_sequence = min(hits)
            block.text = block.text[:cut]
            del blocks[blocks.index(block) + 1 :]
            stop_reason = "stop_sequence"
            break
    remaining = max_tokens
    for i, block in enumerate(blocks):
        if block.tokens <= remaining:
            remaining -= block.tokens
            continue
        if block.kind == "tool_use":
            del blocks[i:]  # a half-written tool call is never returned
        else:
            block.text = truncate(block.text, remaining, ANTHROPIC_ENCODING)
            del blocks[i + 1 :]
        return "max_tokens", None
    return stop_reason, stop_sequence


def _wire(block: _Block) -> dict[str, Any]:
    if block.kind == "thinking":
        return {"type": "thinking", "thinking": block.text, "signature": _signature(block.text)}
    if block.kind == "tool_use":
        return {"type": "tool_use", "id": block.tool_id, "name": block.name, "input": block.input}
    return {"type": "text", "text": block.text}


def _stream_events(message: dict[str, Any]) -> list[SSEEvent]:
    events: list[SSEEvent] = []

    def emit(kind: str, **fields: Any) -> None:
        events.append((kind, dumps({"type": kind, **fields})))

    usage = message["usage"]
    start_usage = {**usage, "output_tokens": 1}
    start_usage.pop("output_tokens_details", None)
    emit(
        "message_start",
        message={**message, "content": [], "stop_reason": None, "stop_sequence": None, "usage": start_usage},
    )
    for index, block in enumerate(message["content"]):
        kind = block["type"]
        if kind == "thinking":
            emit(
                "content_block_start",
                index=index,
                content_block={"type": "thinking", "thinking": "", "signature": ""},
            )
            for piece in split_text(block["thinking"]):
                emit("content_block_delta", index=index, delta={"type": "thinking_delta", "thinking": piece})
            emit(
                "content_block_delta",
                index=index,
                delta={"type": "signature_delta", "signature": block["signature"]},
            )
        elif kind == "tool_use":
            emit("content_block_start", index=index, content_block={**block, "input": {}})
            for piece in split_fixed(compact_json(block["input"])):
                emit(
                    "content_block_delta",
                    index=index,
                    delta={"type": "input_json_delta", "partial_json": piece},
                )
        else:
            emit("content_block_start", index=index, content_block={"type": "text", "text": ""})
            if index == 0:
                emit("ping")
            for piece in split_text(block["text"]):
                if piece:
                    emit("content_block_delta", index=index, delta={"type": "text_delta", "text": piece})
        emit("content_block_stop", index=index)
    final_usage = {
        key: usage[key]
        for key in (
            "input_tokens",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
            "output_tokens",
            "output_tokens_details",
        )
        if key in usage
    }
    emit(
        "message_delta",
        delta={"stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"]},
        usage=final_usage,
    )
    emit("message_stop")
    return events


def count_tokens_endpoint(state: State, body: Mapping[str, Any]) -> Reply:
    """``POST /v1/messages/count_tokens``: the total input, cache included."""
    msgs = body.get("messages")
    if not isinstance(body.get("model"), str) or not isinstance(msgs, list) or not msgs:
        raise BadRequest("model and messages are required")
    total = anthropic_input_tokens_for(msgs, body.get("system"), body.get("tools") or None)
    return Reply(body={"input_tokens": total})


def models(state: State) -> Reply:
    names = sorted(set(ANTHROPIC_SNAPSHOTS.values()))
    data = [
        {"type": "model", "id": n, "display_name": n, "created_at": "2025-01-01T00:00:00Z"} for n in names
    ]
    return Reply(body={"data": data, "has_more": False, "first_id": names[0], "last_id": names[-1]})
