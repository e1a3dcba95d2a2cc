"""A local fake of the OpenAI and Anthropic HTTP APIs, for tests, the demo and benchmarks.

It speaks the real wire formats (JSON and server-sent events) so the official ``openai`` and
``anthropic`` SDKs talk to it unchanged, and answers with realistic text and usage: prompt tokens
counted with a BPE tokenizer, cached tokens on repeated prompts, reasoning and thinking tokens.
It imports neither SDK. Answers are deterministic for a given ``seed``.

>>> from agentwatch.fake_provider import FakeProvider, Failure
>>> with FakeProvider(seed=0) as fp:                      # doctest: +SKIP
...     client = openai.OpenAI(base_url=fp.openai_base_url, api_key="test")
...     fp.fail_next(Failure(status=429, retry_after=0.01, path="chat"))
...     client.chat.completions.create(model="gpt-4o-mini", messages=[...])

From a shell: ``python -m agentwatch.fake_provider --port 8765``.
"""

from __future__ import annotations

from .scenario import Failure, Latency, RateLimits, RecordedRequest
from .server import FakeProvider

__all__ = ["Failure", "FakeProvider", "Latency", "RateLimits", "RecordedRequest"]
