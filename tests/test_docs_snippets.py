"""Every ```python block in the README and docs/ runs, offline, so the docs cannot rot.

Each block runs in a fresh interpreter in an empty directory, with the OpenAI and Anthropic SDKs
pointed at the bundled fake provider through their standard environment variables. A block that
cannot run on its own (a fragment) must say why on the line before it:
``<!-- snippet: fragment, <reason> -->``; the test counts those and keeps the list short.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentwatch.fake_provider import FakeProvider

ROOT = Path(__file__).resolve().parents[1]
_BLOCK = re.compile(r"(?:<!-- snippet: fragment, (?P<why>[^>]+?) -->\n)?```python\n(?P<code>.*?)```", re.S)


def _snippets() -> list[tuple[str, int, str, str | None]]:
    found = []
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    for page in pages:
        text = page.read_text()
        for match in _BLOCK.finditer(text):
            line = text.count("\n", 0, match.start("code"))
            found.append((str(page.relative_to(ROOT)), line, match.group("code"), match.group("why")))
    return found


SNIPPETS = _snippets()


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProvider]:
    with FakeProvider(seed=0) as fp:
        yield fp


def test_fragments_are_few_and_explained() -> None:
    fragments = [(page, line) for page, line, _code, why in SNIPPETS if why is not None]
    assert len(fragments) <= max(3, len(SNIPPETS) // 10), fragments


@pytest.mark.parametrize(("page", "line", "code", "why"), SNIPPETS,
                         ids=[f"{p}:{n}" for p, n, _c, _w in SNIPPETS])
def test_snippet_runs(page: str, line: int, code: str, why: str | None, provider: FakeProvider,
                      tmp_path: Path) -> None:
    if why is not None:
        compile(code, f"{page}:{line}", "exec")  # a fragment must still be valid Python
        return
    env = dict(os.environ)
    env.update({
        "OPENAI_BASE_URL": provider.openai_base_url, "OPENAI_API_KEY": "sk-test",
        "ANTHROPIC_BASE_URL": provider.anthropic_base_url, "ANTHROPIC_API_KEY": "sk-ant-test",
        "PYTHONPATH": os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]),
    })
    for key in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER"):
        env.pop(key, None)
    script = tmp_path / "snippet.py"
    script.write_text(code)
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, f"{page}:{line} failed:\n{result.stdout}\n{result.stderr}"
