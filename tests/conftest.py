from __future__ import annotations

from collections.abc import Iterator

import pytest

import agentwatch


@pytest.fixture(autouse=True)
def _no_leftover_configuration() -> Iterator[None]:
    yield
    agentwatch.shutdown()
