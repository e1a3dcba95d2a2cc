from __future__ import annotations

from collections.abc import Iterator

import pytest

import agentwatch
from agentwatch import errors
from agentwatch.testing import Captured, capture


@pytest.fixture
def tel() -> Iterator[Captured]:
    errors.reset()
    with capture() as captured:
        yield captured


@pytest.fixture(autouse=True)
def _no_leftover_configuration() -> Iterator[None]:
    yield
    agentwatch.shutdown()
