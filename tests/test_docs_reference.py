"""The reference pages in docs/reference are generated from the code and must match it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_reference_pages_match_the_code() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "reference" / "generate.py"), "--check"],
        check=False, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_emitted_metric_is_in_the_reference() -> None:
    from prometheus_client import CollectorRegistry

    from agentwatch.sinks.prometheus import PrometheusSink

    page = (ROOT / "docs" / "reference" / "metrics.md").read_text()
    registry = CollectorRegistry()
    sink = PrometheusSink(registry)
    try:
        emitted = {family.name for family in registry.collect()}
    finally:
        close = getattr(sink, "close", None)
        if close is not None:
            close()
    assert emitted
    for name in emitted:
        assert f"`{name}" in page, name
