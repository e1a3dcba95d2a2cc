"""What the fake OpenAI model writes for one call, shared by chat completions and the Responses API:
the generation (text, tool call, reasoning), its output-token budget and stop sequences, tool choice,
and request checks."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .responses import fill_schema, pick_tool, text_of, topic_of
from .state import BadRequest
from .tokens import count_tokens, tool_call_tokens, truncate


@dataclass
class Generation:
    """What the fake model 'writes' for one call."""

    text: str | None = None
    tool_name: str | None = None
    tool_arguments: str = ""
    reasoning_tokens: int = 0
    truncated: bool = False
    encoding: str = "o200k_base"

    @property
    def text_tokens(self) -> int:
        return count_tokens(self.text or "", self.encoding)

    @property
    def tool_tokens(self) -> int:
        if self.tool_name is None:
            return 0
        return tool_call_tokens(self.tool_name, self.tool_arguments, self.encoding)

    @property
    def output_tokens(self) -> int:
        return self.reasoning_tokens + self.text_tokens + self.tool_tokens


def prompt_and_topic(messages: list[Any]) -> tuple[str, str]:
    """The last user text, and the topic it (or else a system message) is about."""
    user_texts = [text_of(m.get("content")) for m in messages if m.get("role") == "user"]
    system_texts = [text_of(m.get("content")) for m in messages if m.get("role") in ("system", "developer")]
    prompt = user_texts[-1] if user_texts else ""
    return prompt, topic_of(prompt, *system_texts)


def limit(gen: Generation, budget: int | None, stop: Any) -> Generation:
    """Apply ``stop`` sequences and the output-token budget (reasoning, then text, then tool)."""
    if gen.text and stop:
        sequences = [stop] if isinstance(stop, str) else [s for s in stop if isinstance(s, str)]
        cut = min((gen.text.find(s) for s in sequences if s and s in gen.text), default=-1)
        if cut >= 0:
            gen.text = gen.text[:cut]
    if budget is None:
        return gen
    budget = max(budget, 0)
    if gen.reasoning_tokens >= budget and (gen.text or gen.tool_name):
        gen.reasoning_tokens = budget
        gen.text = "" if gen.text is not None else None
        if gen.tool_name is not None:
            gen.tool_arguments = ""
            gen.tool_name = None
            gen.text = ""
        gen.truncated = True
        return gen
    remaining = budget - gen.reasoning_tokens
    if gen.text and gen.text_tokens > remaining:
        gen.text = truncate(gen.text, remaining, gen.encoding)
        gen.truncated = True
        remaining = 0
    else:
        remaining -= gen.text_tokens
    if gen.tool_name is not None and gen.tool_tokens > remaining:
        # the name is always written whole; the arguments stop where the budget runs out
        kept = truncate(gen.tool_name + gen.tool_arguments, remaining, gen.encoding)
        gen.tool_arguments = kept[len(gen.tool_name) :]
        gen.truncated = True
    return gen


def json_answer(schema: Any) -> str:
    return json.dumps(fill_schema(schema), ensure_ascii=False)


def listed_function_tools(tools: Any, nested: bool) -> list[tuple[str, Any]]:
    """(name, parameters) of the function tools; ``nested`` is the chat shape ``{"function": {...}}``."""
    found: list[tuple[str, Any]] = []
    for tool in tools or []:
        if not isinstance(tool, Mapping) or tool.get("type", "function") != "function":
            continue
        spec = tool.get("function", {}) if nested else tool
        if isinstance(spec, Mapping) and isinstance(spec.get("name"), str):
            found.append((spec["name"], spec.get("parameters") or {"type": "object", "properties": {}}))
    return found


def forced_tool(tool_choice: Any, nested: bool) -> tuple[bool, str | None]:
    """(a tool call is forced, the forced tool's name if any)."""
    if tool_choice == "required":
        return True, None
    if isinstance(tool_choice, Mapping) and tool_choice.get("type") == "function":
        spec = tool_choice.get("function", {}) if nested else tool_choice
        name = spec.get("name") if isinstance(spec, Mapping) else None
        return True, name if isinstance(name, str) else None
    return False, None


def choose_tool(tools: list[tuple[str, Any]], forced_name: str | None, prompt: str) -> tuple[str, Any]:
    names = [n for n, _ in tools]
    if forced_name in names:
        return tools[names.index(forced_name)]
    return tools[pick_tool(names, prompt)]


def fingerprint(model: str) -> str:
    return "fp_" + hashlib.sha256(model.encode()).hexdigest()[:10]


def require(body: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = body.get(name)
    if value is None:
        raise BadRequest(f"Missing required parameter: '{name}'.", name)
    if not isinstance(value, kind):
        raise BadRequest(f"Invalid type for '{name}'.", name)
    return value
