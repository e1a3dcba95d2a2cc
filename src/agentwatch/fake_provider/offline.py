"""Run code against the fake provider unless real API keys are set (the examples use this).

    from agentwatch.fake_provider.offline import unless_keys

    with unless_keys("openai", "anthropic"):
        client = openai.OpenAI()          # the real API with OPENAI_API_KEY, else the fake one
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from .scenario import LatencyPolicy
from .server import FakeProvider

_KEY = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
_BASE = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL"}


@contextmanager
def unless_keys(*providers: str, seed: int = 0, latency: LatencyPolicy | None = None
                ) -> Iterator[FakeProvider | None]:
    """Start a :class:`FakeProvider` and point the SDKs of ``providers`` (``"openai"``,
    ``"anthropic"``; default both) whose API key variable is unset at it, through the standard
    ``*_BASE_URL`` / ``*_API_KEY`` variables; restore them and stop it on exit. Yields the fake
    provider, or ``None`` when every key is set (then nothing is started)."""
    wanted = providers or tuple(_KEY)
    unknown = [p for p in wanted if p not in _KEY]
    if unknown:
        raise ValueError(f"unknown providers {unknown}: use {sorted(_KEY)}")
    missing = [p for p in wanted if not os.environ.get(_KEY[p])]
    if not missing:
        yield None
        return
    fake = FakeProvider(seed=seed, latency=latency).start()
    saved = {name: os.environ.get(name) for p in missing for name in (_KEY[p], _BASE[p])}
    for p in missing:
        os.environ[_BASE[p]] = fake.openai_base_url if p == "openai" else fake.anthropic_base_url
        os.environ[_KEY[p]] = f"sk-{p}-fake-offline"
    try:
        yield fake
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        fake.stop()
