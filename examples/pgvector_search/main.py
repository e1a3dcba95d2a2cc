"""Semantic search over job postings in PostgreSQL + pgvector, traced end to end.

    DATABASE_URL=postgresql://user@127.0.0.1:5432/jobs python examples/pgvector_search/main.py

Needs a PostgreSQL with the pgvector extension available (``CREATE EXTENSION vector`` must work
for the user). The embeddings come from OpenAI's ``text-embedding-3-small`` through the
instrumented SDK (without OPENAI_API_KEY: agentwatch's bundled fake provider, whose embeddings are
a hashed bag of words, so postings sharing words with the query rank first). The search runs
through ``agentwatch.pgvector.search``, which reads the table, distance operator and LIMIT from the
SQL: one trace holds the embedding call (tokens, cost) and the ``retrieval`` span (ids, scores).
"""

from __future__ import annotations

import os

import openai
import psycopg

import agentwatch
import agentwatch_openai
from agentwatch import pgvector
from agentwatch.fake_provider.offline import unless_keys
from agentwatch.report import iter_spans

DIMENSIONS = 256
POSTINGS = [
    (1, "Senior Python backend engineer: PostgreSQL, Kafka, payments APIs"),
    (2, "Data engineer: Airflow, dbt and BigQuery pipelines for retail analytics"),
    (3, "Machine learning engineer: PyTorch, Python, model serving"),
    (4, "Frontend developer: React, TypeScript, design systems"),
    (5, "Site reliability engineer: Kubernetes, Terraform, Prometheus on call"),
    (6, "Python data engineer: Spark, Kafka streaming, PostgreSQL warehouse"),
]
SEARCH = ("SELECT id, title, 1 - (embedding <=> %s::vector) AS score FROM example_postings "
          "ORDER BY embedding <=> %s::vector LIMIT %s")


def literal(vector: list[float]) -> str:
    """pgvector's text form of a vector (what ``%s::vector`` accepts)."""
    return "[" + ",".join(repr(v) for v in vector) + "]"


def main() -> None:
    tel = agentwatch.configure(service_name="pgvector-example", exporters=["file"])
    client = agentwatch_openai.instrument(openai.OpenAI())

    def embed(texts: list[str]) -> list[list[float]]:
        response = client.embeddings.create(model="text-embedding-3-small", input=texts,
                                            dimensions=DIMENSIONS)
        return [item.embedding for item in response.data]

    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute("DROP TABLE IF EXISTS example_postings")
        conn.execute(f"CREATE TABLE example_postings (id integer PRIMARY KEY, title text NOT NULL, "
                     f"embedding vector({DIMENSIONS}) NOT NULL)")
        vectors = embed([title for _, title in POSTINGS])
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO example_postings VALUES (%s, %s, %s::vector)",
                            [(i, title, literal(v)) for (i, title), v in zip(POSTINGS, vectors, strict=True)])
        conn.execute("CREATE INDEX ON example_postings USING hnsw (embedding vector_cosine_ops)")

        question = "python engineer with kafka and postgresql"
        with agentwatch.stage("find_jobs", graph="pgvector-example"):
            query = literal(embed([question])[0])
            rows = pgvector.search(conn, SEARCH, (query, query, 3))
    print(f"query: {question!r}")
    for job_id, title, score in rows:
        print(f"  {job_id}  {score:.4f}  {title}")

    tel.force_flush()
    span = [s for s in iter_spans(str(tel.spans_path)) if s.name == "retrieval example_postings"][-1]
    a = span.attributes
    print(f"span {span.name!r}: db={a['db.system.name']}, top_k={a['agentwatch.retrieval.top_k']}, "
          f"returned={a['agentwatch.retrieval.returned']}, documents={a['gen_ai.retrieval.documents']}")
    print(f"spans: {tel.spans_path}")
    agentwatch.shutdown()


if __name__ == "__main__":
    with unless_keys("openai"):  # no OPENAI_API_KEY: the bundled fake provider on 127.0.0.1
        main()
