from __future__ import annotations

import json
import math
import re
from pathlib import Path

import psycopg
import pytest
from tests.vector._postgres import Postgres

from agentwatch.fake_provider.openai_api import embedding_vector

from ._run import list_price, run_example, spans

pytestmark = pytest.mark.services

QUESTION = "python engineer with kafka and postgresql"
POSTINGS = {
    1: "Senior Python backend engineer: PostgreSQL, Kafka, payments APIs",
    2: "Data engineer: Airflow, dbt and BigQuery pipelines for retail analytics",
    3: "Machine learning engineer: PyTorch, Python, model serving",
    4: "Frontend developer: React, TypeScript, design systems",
    5: "Site reliability engineer: Kubernetes, Terraform, Prometheus on call",
    6: "Python data engineer: Spark, Kafka streaming, PostgreSQL warehouse",
}


def test_search_span_and_embedding_cost(postgres: Postgres, tmp_path: Path) -> None:
    admin = f"host={postgres.host} port={postgres.port} user=postgres dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS example_pgvector")
        conn.execute("CREATE DATABASE example_pgvector")
    url = f"postgresql://postgres@{postgres.host}:{postgres.port}/example_pgvector"
    out = run_example("pgvector_search/main.py", tmp_path, DATABASE_URL=url)

    # the nearest postings by cosine similarity, computed here from the same embeddings
    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True)) / math.hypot(*a) / math.hypot(*b)

    query = embedding_vector(QUESTION, 256)
    best = sorted(((i, cosine(query, embedding_vector(t, 256))) for i, t in POSTINGS.items()),
                  key=lambda p: -p[1])[:3]
    printed = [(int(i), float(s)) for i, s in re.findall(r"^  (\d+)  (-?\d\.\d{4})  ", out, re.M)]
    assert [i for i, _ in printed] == [i for i, _ in best]
    assert [s for _, s in printed] == pytest.approx([s for _, s in best], abs=1e-4)

    found = list(spans(tmp_path / ".agentwatch" / "spans.jsonl"))
    (search,) = [s for s in found if s["name"] == "retrieval example_postings"]
    a = search["attributes"]
    assert a["db.system.name"] == "postgresql"
    assert a["db.collection.name"] == "example_postings"
    assert int(a["agentwatch.retrieval.top_k"]) == 3 and int(a["agentwatch.retrieval.returned"]) == 3
    assert int(a["server.port"]) == postgres.port
    documents = json.loads(a["gen_ai.retrieval.documents"])
    assert [int(d["id"]) for d in documents] == [i for i, _ in best]
    assert [d["score"] for d in documents] == pytest.approx([s for _, s in best], abs=1e-4)

    (stage,) = [s for s in found if s["name"] == "find_jobs"]
    embeddings = [s for s in found if s["name"] == "embeddings text-embedding-3-small"]
    assert len(embeddings) == 2  # the postings, then the question (inside the stage)
    inside = [s for s in embeddings if s.get("parentSpanId") == stage["spanId"]]
    assert len(inside) == 1 and search["parentSpanId"] == stage["spanId"]
    tokens = int(inside[0]["attributes"]["gen_ai.usage.input_tokens"])
    cost = list_price("openai", "text-embedding-3-small", {"input_tokens": tokens})
    assert inside[0]["attributes"]["agentwatch.cost.usd"] == pytest.approx(cost, rel=1e-9)
    assert stage["attributes"]["agentwatch.rollup.cost.usd"] == pytest.approx(cost, rel=1e-9)
