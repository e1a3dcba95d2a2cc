"""Reading table, distance operator and LIMIT out of vector-search SQL (no database needed)."""

from __future__ import annotations

import pytest

from agentwatch.pgvector import VectorQuery, parse_query

CASES = [
    # sql, table, operator, distance, limit, limit_param
    ("SELECT id FROM job_postings ORDER BY embedding <=> %s LIMIT 5",
     "job_postings", "<=>", "cosine", 5, None),
    ("select id, embedding <-> %s as distance from public.jobs order by distance limit %s",
     "public.jobs", "<->", "l2", None, 1),
    ("SELECT id FROM jobs ORDER BY embedding <#> %(q)s LIMIT %(k)s",
     "jobs", "<#>", "inner_product", None, "k"),
    ("SELECT id FROM jobs ORDER BY embedding <=> :q LIMIT :k", "jobs", "<=>", "cosine", None, "k"),
    ("SELECT id FROM jobs ORDER BY embedding <=> $1::vector LIMIT $2", "jobs", "<=>", "cosine", None, 1),
    ("SELECT id FROM jobs WHERE city = ? ORDER BY embedding <-> ? LIMIT ?", "jobs", "<->", "l2", None, 2),
    ('SELECT "Id" FROM "My Schema"."Job Postings" AS j ORDER BY j.embedding <=> %s FETCH FIRST 7 ROWS ONLY',
     "My Schema.Job Postings", "<=>", "cosine", 7, None),
    # the operator's column names the table through its alias, not the first FROM
    ("SELECT j.id FROM companies c JOIN job_postings j ON j.company_id = c.id "
     "ORDER BY j.embedding <=> %s LIMIT 10", "job_postings", "<=>", "cosine", 10, None),
    # a CTE holding the query vector is not the searched table
    ("WITH q AS (SELECT embedding AS e FROM queries WHERE id = 3) "
     "SELECT id FROM q, job_postings ORDER BY job_postings.embedding <-> (SELECT e FROM q) LIMIT 4",
     "job_postings", "<->", "l2", 4, None),
    # the search is a subquery; the outer LIMIT is not the search's
    ("SELECT * FROM (SELECT id, embedding <=> %s AS d FROM job_postings ORDER BY d LIMIT 40) s "
     "WHERE d < 0.5 ORDER BY d LIMIT 5", "job_postings", "<=>", "cosine", 40, None),
    # a vector literal, a comment and a function in FROM do not confuse it
    ("-- FROM nowhere\nSELECT id FROM jobs /* FROM x */ ORDER BY embedding <+> '[1,2,3]' LIMIT 3",
     "jobs", "<+>", "l1", 3, None),
    ("SELECT id FROM generate_series(1, 3) g, items ORDER BY items.embedding <~> %s LIMIT 2",
     "items", "<~>", "hamming", 2, None),
    ("SELECT count(*) FROM jobs", "jobs", None, None, None, None),
]


@pytest.mark.parametrize(("sql", "table", "operator", "distance", "limit", "limit_param"), CASES)
def test_parse_query(sql: str, table: str, operator: str | None, distance: str | None,
                     limit: int | None, limit_param: int | str | None) -> None:
    q = parse_query(sql)
    assert (q.table, q.operator, q.distance, q.limit, q.limit_param) == (
        table, operator, distance, limit, limit_param)


def test_top_k_from_parameters() -> None:
    assert parse_query("SELECT id FROM t ORDER BY e <=> %s LIMIT %s").top_k(("[1]", 6)) == 6
    assert parse_query("SELECT id FROM t ORDER BY e <=> %(q)s LIMIT %(k)s").top_k({"q": "[1]", "k": 8}) == 8
    assert parse_query("SELECT id FROM t ORDER BY e <=> $1 LIMIT $2").top_k(["[1]", 9]) == 9
    assert parse_query("SELECT id FROM t ORDER BY e <=> %s LIMIT 3").top_k(None) == 3
    # missing or odd parameters: no top_k, never an exception
    assert parse_query("SELECT id FROM t ORDER BY e <=> %s LIMIT %s").top_k(("[1]",)) is None
    assert parse_query("SELECT id FROM t ORDER BY e <=> %(q)s LIMIT %(k)s").top_k(("[1]", 2)) is None
    assert parse_query("SELECT id FROM t LIMIT %s").top_k((True,)) is None


def test_summary_operation_and_parameterized() -> None:
    q = parse_query("WITH x AS (SELECT 1) SELECT id FROM jobs ORDER BY embedding <=> %s LIMIT 5")
    assert q.operation == "SELECT"
    assert q.summary == "SELECT jobs"
    assert q.parameterized
    assert not parse_query("SELECT id FROM jobs ORDER BY embedding <=> '[1,2]' LIMIT %s").parameterized
    assert not parse_query("SELECT id FROM jobs ORDER BY embedding::text LIMIT 5").parameterized
    assert isinstance(parse_query("SELECT 1"), VectorQuery)
    assert parse_query("SELECT 1").table is None
