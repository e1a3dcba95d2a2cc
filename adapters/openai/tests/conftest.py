"""Fixtures for the OpenAI adapter tests: the real SDK over HTTP to the bundled fake provider,
agentwatch capturing spans in memory and metrics in a private registry."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from agentwatch.fake_provider import FakeProvider

sys.path.insert(0, str(Path(__file__).parent))  # oa_helpers (tests run with --import-mode=importlib)

from oa_helpers import API_KEY

import agentwatch_openai


@pytest.fixture
def fp() -> Iterator[FakeProvider]:
    with FakeProvider(seed=1) as provider:
        yield provider


@pytest.fixture
def client(fp: FakeProvider) -> Iterator[openai.OpenAI]:
    sdk = openai.OpenAI(base_url=fp.openai_base_url, api_key=API_KEY, max_retries=2)
    yield agentwatch_openai.instrument(sdk)
    agentwatch_openai.uninstrument(sdk)
    sdk.close()


@pytest.fixture
def aclient(fp: FakeProvider) -> Iterator[openai.AsyncOpenAI]:
    sdk = openai.AsyncOpenAI(base_url=fp.openai_base_url, api_key=API_KEY, max_retries=2)
    yield agentwatch_openai.instrument(sdk)
    agentwatch_openai.uninstrument(sdk)
