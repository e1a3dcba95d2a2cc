"""pgvector searches against a real PostgreSQL: the helper, the decorator pattern, errors, metrics."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import psycopg
import pytest
from opentelemetry.trace import StatusCode
from psycopg.rows import dict_row

import agentwatch
from agentwatch import pgvector
from agentwatch.testing import Captured

from ._jobs import embed, literal
from ._postgres import Postgres, start_postgres, stop_postgres

pytestmark = pytest.mark.services

QUERY = "senior python backend engineer django postgres"
COSINE_SQL = ("SELECT id, title, 1 - (embedding <=> %s::vector) AS score FROM job_postings "
              "ORDER BY embedding <=> %s::vector LIMIT %s")


def exact(postgres: Postgres, sql: str, params: Any) -> list[tuple[Any, ...]]:
    """The true answer: the same search on a fresh connection with every index turned off."""
    with psycopg.connect(postgres.dsn, autocommit=True) as c:
        c.execute("SET enable_indexscan = off")
        c.execute("SET enable_bitmapscan = off")
        return c.execute(sql, params).fetchall()


def plan(conn: psycopg.Connection, sql: str, params: Any) -> str:
    return "\n".join(r[0] for r in conn.execute("EXPLAIN " + sql, params).fetchall())


def attrs(tel: Captured, name: str) -> dict[str, Any]:
    return dict(tel.span(name).attributes or {})


def test_search_hnsw_cosine(tel: Captured, postgres: Postgres, conn: psycopg.Connection) -> None:
    q = literal(embed(QUERY))
    assert "job_postings_hnsw_cosine" in plan(conn, COSINE_SQL, (q, q, 5))

    rows = pgvector.search(conn, COSINE_SQL, (q, q, 5))

    truth = exact(postgres, COSINE_SQL, (q, q, 5))
    assert [r[0] for r in rows] == [r[0] for r in truth]
    a = attrs(tel, "retrieval job_postings")
    assert a["gen_ai.operation.name"] == "retrieval"
    assert a["db.system.name"] == "postgresql"
    assert a["db.collection.name"] == "job_postings"
    assert a["db.namespace"] == "agentwatch"
    assert a["db.operation.name"] == "SELECT"
    assert a["db.query.summary"] == "SELECT job_postings"
    assert a["db.query.text"] == COSINE_SQL
    assert a["server.address"] == "127.0.0.1"
    assert a["server.port"] == postgres.port
    assert a["agentwatch.retrieval.distance.operator"] == "<=>"
    assert a["agentwatch.retrieval.distance.metric"] == "cosine"
    assert a["agentwatch.retrieval.top_k"] == 5
    assert a["agentwatch.retrieval.returned"] == 5
    assert a["agentwatch.retrieval.top_score"] == pytest.approx(truth[0][2], abs=1e-9)
    # the vectors are unit length: cosine similarity is their dot product, computed here in Python
    best_text = conn.execute("SELECT body FROM job_postings WHERE id = %s", (truth[0][0],)).fetchone()
    assert best_text is not None
    dot = sum(x * y for x, y in zip(embed(QUERY), embed(best_text[0]), strict=True))
    assert a["agentwatch.retrieval.top_score"] == pytest.approx(dot, abs=1e-5)
    docs = json.loads(str(a["gen_ai.retrieval.documents"]))
    assert [d["id"] for d in docs] == [str(r[0]) for r in truth]
    assert [d["score"] for d in docs] == pytest.approx([r[2] for r in truth], abs=1e-9)
    assert "title" not in str(a["gen_ai.retrieval.documents"]).lower()
    assert tel.span("retrieval job_postings").kind.name == "CLIENT"

    labels = {"db": "postgresql", "collection": "job_postings"}
    assert tel.sample("agentwatch_vector_search_duration_seconds_count", **labels) == 1
    assert tel.sample("agentwatch_vector_search_results_count", **labels) == 1
    assert tel.sample("agentwatch_vector_search_results_sum", **labels) == 5
    assert tel.sample("agentwatch_vector_search_results_bucket", le="2.0", **labels) == 0
    assert tel.sample("agentwatch_vector_search_results_bucket", le="5.0", **labels) == 1


def test_search_ivfflat_l2_named_parameters(tel: Captured, postgres: Postgres,
                                            conn: psycopg.Connection) -> None:
    sql = ("SELECT id, embedding <-> %(q)s::vector AS distance FROM job_postings_ivf "
           "ORDER BY embedding <-> %(q)s::vector LIMIT %(k)s")
    params = {"q": literal(embed("data engineer spark kafka in berlin")), "k": 7}
    assert "job_postings_ivf_l2" in plan(conn, sql, params)

    cur = conn.cursor()  # a cursor works as well as a connection
    rows = pgvector.search(cur, sql, params)

    truth = exact(postgres, sql, params)
    assert [r[0] for r in rows] == [r[0] for r in truth]
    a = attrs(tel, "retrieval job_postings_ivf")
    assert a["agentwatch.retrieval.distance.operator"] == "<->"
    assert a["agentwatch.retrieval.distance.metric"] == "l2"
    assert a["agentwatch.retrieval.top_k"] == 7
    assert a["agentwatch.retrieval.returned"] == 7
    # "distance" is the score column here: the best row has the smallest one
    assert a["agentwatch.retrieval.top_score"] == pytest.approx(truth[0][1], abs=1e-9)
    assert truth[0][1] == min(r[1] for r in truth)
    assert a["server.port"] == postgres.port
    assert tel.sample("agentwatch_vector_search_results_sum", db="postgresql",
                      collection="job_postings_ivf") == 7


def test_search_inner_product_with_sqlalchemy(tel: Captured, postgres: Postgres) -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    engine = sqlalchemy.create_engine(postgres.url)
    stmt = sqlalchemy.text(
        "SELECT id, (embedding <#> CAST(:q AS vector)) * -1 AS similarity FROM job_postings "
        "ORDER BY embedding <#> CAST(:q AS vector) LIMIT :k")
    params = {"q": literal(embed("machine learning engineer pytorch llm")), "k": 3}
    try:
        with engine.connect() as sa_conn:
            sa_conn.execute(sqlalchemy.text("SET enable_seqscan = off"))
            sa_conn.execute(sqlalchemy.text("SET hnsw.ef_search = 400"))
            rows = pgvector.search(sa_conn, stmt, params)
    finally:
        engine.dispose()

    truth = exact(postgres, "SELECT id, (embedding <#> %(q)s::vector) * -1 FROM job_postings "
                            "ORDER BY embedding <#> %(q)s::vector LIMIT 3", params)
    assert [r.id for r in rows] == [r[0] for r in truth]
    a = attrs(tel, "retrieval job_postings")
    assert a["agentwatch.retrieval.distance.metric"] == "inner_product"
    assert a["agentwatch.retrieval.top_k"] == 3
    assert a["agentwatch.retrieval.top_score"] == pytest.approx(truth[0][1], abs=1e-9)
    assert a["server.address"] == "127.0.0.1"
    assert a["server.port"] == postgres.port
    assert a["db.namespace"] == "agentwatch"
    assert a["db.query.text"].endswith("LIMIT :k")


def test_async_search(tel: Captured, postgres: Postgres) -> None:
    q = literal(embed("frontend developer react typescript"))

    async def run() -> list[Any]:
        async with await psycopg.AsyncConnection.connect(postgres.dsn, autocommit=True) as aconn:
            await aconn.execute("SET hnsw.ef_search = 400")
            with agentwatch.stage("retrieve"):
                return await pgvector.asearch(aconn, COSINE_SQL, (q, q, 4))

    rows = asyncio.run(run())
    truth = exact(postgres, COSINE_SQL, (q, q, 4))
    assert [r[0] for r in rows] == [r[0] for r in truth]
    span = tel.span("retrieval job_postings")
    assert span.parent is not None
    assert span.parent.span_id == tel.span("retrieve").context.span_id
    assert (span.attributes or {})["agentwatch.retrieval.returned"] == 4


# --- the decorator pattern (what docs/integrations/vector.md shows) ----------------------------------
def test_decorator_pattern(tel: Captured, postgres: Postgres) -> None:
    sql = ("SELECT id, title, 1 - (embedding <=> %(q)s::vector) AS score FROM job_postings "
           "ORDER BY embedding <=> %(q)s::vector LIMIT %(k)s")

    @agentwatch.track_vector_search("postgresql", "job_postings", top_k_arg="k", query_arg="text")
    def find_jobs(conn: psycopg.Connection[Any], text: str, k: int = 5) -> list[dict[str, Any]]:
        params = {"q": literal(embed(text)), "k": k}
        pgvector.annotate(sql, params, conn)
        with conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(sql, params).fetchall()

    with psycopg.connect(postgres.dsn, autocommit=True) as c:
        c.execute("SET hnsw.ef_search = 400")
        found = find_jobs(c, "site reliability engineer kubernetes prometheus", k=6)

    truth = exact(postgres, sql, {"q": literal(embed("site reliability engineer kubernetes prometheus")),
                                  "k": 6})
    assert [r["id"] for r in found] == [r[0] for r in truth]
    a = attrs(tel, "retrieval job_postings")
    assert a["agentwatch.retrieval.top_k"] == 6
    assert a["agentwatch.retrieval.returned"] == 6
    assert a["agentwatch.retrieval.top_score"] == pytest.approx(truth[0][2], abs=1e-9)
    assert [d["id"] for d in json.loads(str(a["gen_ai.retrieval.documents"]))] == [str(r[0]) for r in truth]
    assert a["agentwatch.retrieval.distance.operator"] == "<=>"
    assert a["server.address"] == "127.0.0.1"
    assert a["server.port"] == postgres.port
    assert a["db.namespace"] == "agentwatch"
    assert "gen_ai.retrieval.query.text" not in a  # content capture is off


def test_annotate_outside_a_search_is_a_no_op(tel: Captured) -> None:
    from agentwatch import errors

    pgvector.annotate("SELECT id FROM t ORDER BY e <=> %s LIMIT 3", ("[1]",))
    assert tel.spans == ()
    assert errors.counts() == {}


# --- failures -------------------------------------------------------------------------------------
def test_bad_sql_gives_an_error_span_and_the_same_exception(tel: Captured, conn: psycopg.Connection) -> None:
    sql = "SELECT id FROM no_such_table ORDER BY embedding <=> %s::vector LIMIT 3"
    with pytest.raises(psycopg.errors.UndefinedTable) as caught:
        pgvector.search(conn, sql, (literal(embed("x")),))
    assert caught.value.sqlstate == "42P01"
    assert 'relation "no_such_table" does not exist' in str(caught.value)

    span = tel.span("retrieval no_such_table")
    assert span.status.status_code is StatusCode.ERROR
    a = dict(span.attributes or {})
    assert a["error.type"] == "UndefinedTable"
    assert a["agentwatch.retrieval.distance.operator"] == "<=>"
    assert a["agentwatch.retrieval.top_k"] == 3
    assert "agentwatch.retrieval.returned" not in a
    assert tel.sample("agentwatch_vector_search_duration_seconds_count", db="postgresql",
                      collection="no_such_table") == 1
    assert tel.sample("agentwatch_vector_search_results_count", db="postgresql",
                      collection="no_such_table") is None

    seen: list[BaseException] = []

    @agentwatch.track_vector_search("postgresql", "job_postings")
    def broken(c: psycopg.Connection[Any]) -> list[Any]:
        try:
            return c.execute("SELECT id FROM job_postings ORDER BY nope <=> '[1]' LIMIT 1").fetchall()
        except Exception as exc:
            seen.append(exc)
            raise

    with pytest.raises(psycopg.errors.UndefinedColumn) as caught2:
        broken(conn)
    assert caught2.value is seen[0]
    assert tel.span("retrieval job_postings").status.status_code is StatusCode.ERROR


def test_server_stopped(tel: Captured) -> None:
    pg = start_postgres()  # a cluster of its own, so the shared one keeps running
    try:
        with psycopg.connect(pg.dsn, autocommit=True) as c:
            c.execute("CREATE TABLE items (id int, embedding vector(3))")
            c.execute("INSERT INTO items VALUES (1, '[1,0,0]'), (2, '[0,1,0]')")
            sql = "SELECT id, embedding <-> %s::vector AS distance FROM items ORDER BY distance LIMIT 1"
            assert [r[0] for r in pgvector.search(c, sql, ("[1,0,0]",))] == [1]
            pg.stop()
            with pytest.raises(psycopg.OperationalError) as caught:
                pgvector.search(c, sql, ("[1,0,0]",))
    finally:
        stop_postgres(pg)

    ok, failed = sorted(tel.spans_named("retrieval items"), key=lambda s: s.start_time or 0)
    assert ok.status.status_code is StatusCode.UNSET
    assert (ok.attributes or {})["agentwatch.retrieval.top_score"] == 0.0
    assert failed.status.status_code is StatusCode.ERROR
    # "terminating connection due to administrator command": psycopg's AdminShutdown
    assert (failed.attributes or {})["error.type"] == type(caught.value).__qualname__ == "AdminShutdown"
    assert tel.sample("agentwatch_vector_search_duration_seconds_count", db="postgresql",
                      collection="items") == 2


def test_before_configure_only_runs_the_query(conn: psycopg.Connection) -> None:
    agentwatch.shutdown()
    q = literal(embed(QUERY))
    assert len(pgvector.search(conn, COSINE_SQL, (q, q, 2))) == 2
    assert math.isfinite(pgvector.search(conn, COSINE_SQL, (q, q, 1))[0][2])
