"""Suite-wide rule: under the test command (``./dev test`` sets AGENTWATCH_NO_SKIPS=1) every test
runs. A skipped or expected-to-fail test fails the run, so a missing service or package can never
pass silently for a green build."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from agentwatch import errors
from agentwatch.testing import Captured, capture

_NOT_RUN: list[str] = []


@pytest.fixture
def tel() -> Iterator[Captured]:
    """agentwatch configured for one test: spans in memory, metrics in a private registry."""
    errors.reset()
    with capture() as captured:
        yield captured


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        kind = "xfail" if hasattr(report, "wasxfail") else "skipped"
        _NOT_RUN.append(f"{report.nodeid} ({kind})")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("AGENTWATCH_NO_SKIPS") == "1" and _NOT_RUN and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if os.environ.get("AGENTWATCH_NO_SKIPS") == "1" and _NOT_RUN:
        terminalreporter.section("tests that did not run (the test command requires all to run)")
        for line in _NOT_RUN:
            terminalreporter.write_line(line)
