"""Fixtures for the Anthropic adapter tests: the real SDK over HTTP to the bundled fake provider,
agentwatch capturing spans in memory and metrics in a private registry."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import anthropic
import pytest

from agentwatch.fake_provider import FakeProvider

sys.path.insert(0, str(Path(__file__).parent))  # an_helpers (tests run with --import-mode=importlib)

from an_helpers import API_KEY

import agentwatch_anthropic


@pytest.fixture
def fp() -> Iterator[FakeProvider]:
    with FakeProvider(seed=2) as provider:
        yield provider


@pytest.fixture
def client(fp: FakeProvider) -> Iterator[anthropic.Anthropic]:
    sdk = anthropic.Anthropic(base_url=fp.anthropic_base_url, api_key=API_KEY, max_retries=2)
    yield agentwatch_anthropic.instrument(sdk)
    agentwatch_anthropic.uninstrument(sdk)
    sdk.close()


@pytest.fixture
def aclient(fp: FakeProvider) -> Iterator[anthropic.AsyncAnthropic]:
    sdk = anthropic.AsyncAnthropic(base_url=fp.anthropic_base_url, api_key=API_KEY, max_retries=2)
    yield agentwatch_anthropic.instrument(sdk)
    agentwatch_anthropic.uninstrument(sdk)
