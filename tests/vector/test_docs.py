"""The PostgreSQL examples of docs/integrations/vector.md run against a real PostgreSQL + pgvector.

They are fenced as ```py (the page's ```python blocks need no database and run with every other
docs snippet in tests/test_docs_snippets.py). Each one runs in a fresh interpreter with
``DATABASE_URL`` pointing at a database of its own.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from ._postgres import Postgres

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "integrations" / "vector.md"
_BLOCK = re.compile(r"```py\n(?P<code>.*?)```", re.S)
BLOCKS = [(PAGE.read_text().count("\n", 0, m.start("code")), m.group("code"))
          for m in _BLOCK.finditer(PAGE.read_text())]


def test_the_page_has_database_examples() -> None:
    assert len(BLOCKS) >= 4
    assert any("pgvector.annotate" in code for _, code in BLOCKS)


@pytest.mark.parametrize(("line", "code"), BLOCKS, ids=[f"vector.md:{line}" for line, _ in BLOCKS])
def test_database_example_runs(line: int, code: str, postgres: Postgres, tmp_path: Path) -> None:
    database = f"docs_{line}"
    admin = f"host={postgres.host} port={postgres.port} user=postgres dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {database}")
        conn.execute(f"CREATE DATABASE {database}")
    env = dict(os.environ)
    env["DATABASE_URL"] = f"postgresql://postgres@{postgres.host}:{postgres.port}/{database}"
    for key in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER"):
        env.pop(key, None)
    script = tmp_path / "example.py"
    script.write_text(code)
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, f"vector.md:{line} failed:\n{result.stdout}\n{result.stderr}"
