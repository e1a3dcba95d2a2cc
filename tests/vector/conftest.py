from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from ._jobs import embed, literal, postings
from ._postgres import Postgres, start_postgres, stop_postgres

SCHEMA = """
CREATE TABLE job_postings (id integer PRIMARY KEY, title text NOT NULL, body text NOT NULL,
                           embedding vector({dims}) NOT NULL);
CREATE TABLE job_postings_ivf (LIKE job_postings INCLUDING ALL);
"""
INDEXES = """
CREATE INDEX job_postings_hnsw_cosine ON job_postings USING hnsw (embedding vector_cosine_ops)
    WITH (m = 8, ef_construction = 64);
CREATE INDEX job_postings_hnsw_ip ON job_postings USING hnsw (embedding vector_ip_ops)
    WITH (m = 8, ef_construction = 64);
CREATE INDEX job_postings_ivf_l2 ON job_postings_ivf USING ivfflat (embedding vector_l2_ops)
    WITH (lists = 8);
ANALYZE job_postings;
ANALYZE job_postings_ivf;
"""


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """PostgreSQL + pgvector on 127.0.0.1, with 240 embedded job postings behind HNSW and IVFFlat indexes."""
    pg = start_postgres()
    try:
        from ._jobs import DIMENSIONS

        with psycopg.connect(pg.dsn, autocommit=True) as conn:
            conn.execute(SCHEMA.format(dims=DIMENSIONS))
            rows = [(i, title, text, literal(embed(text))) for i, title, text in postings()]
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO job_postings VALUES (%s, %s, %s, %s::vector)", rows)
            conn.execute("INSERT INTO job_postings_ivf SELECT * FROM job_postings")
            conn.execute(INDEXES)
        yield pg
    finally:
        stop_postgres(pg)


@pytest.fixture
def conn(postgres: Postgres) -> Iterator[psycopg.Connection]:
    """A connection that searches through the indexes exactly (every HNSW candidate, every IVF list)."""
    with psycopg.connect(postgres.dsn, autocommit=True) as c:
        c.execute("SET enable_seqscan = off")
        c.execute("SET hnsw.ef_search = 400")
        c.execute("SET ivfflat.probes = 8")
        yield c
