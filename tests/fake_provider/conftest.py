from __future__ import annotations

from collections.abc import Iterator

import pytest

from agentwatch.fake_provider import FakeProvider


@pytest.fixture
def fp() -> Iterator[FakeProvider]:
    with FakeProvider(seed=7) as provider:
        yield provider
