"""Fixtures for the LangGraph adapter tests: agentwatch capturing spans in memory."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentwatch import errors
from agentwatch.testing import Captured, capture

sys.path.insert(0, str(Path(__file__).parent))  # lg_helpers (tests run with --import-mode=importlib)


@pytest.fixture
def tel() -> Iterator[Captured]:
    errors.reset()
    with capture() as captured:
        yield captured
