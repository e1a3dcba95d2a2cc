"""pgvector searches you write yourself, traced like any other retrieval.

Two ways, for psycopg (2 or 3, sync or async) and SQLAlchemy (``text(...)`` on a connection or
session), with no import of either:

* :func:`search` / :func:`asearch` run the query, fetch the rows and record one
  ``retrieval {table}`` span whose table, distance operator and ``LIMIT`` are read from the SQL,
  with the database server (``server.address``, ``server.port``, ``db.namespace``) read from the
  connection, and the ids and scores read from the rows::

      rows = pgvector.search(conn, "SELECT id, 1 - (embedding <=> %s) AS score "
                                   "FROM job_postings ORDER BY embedding <=> %s LIMIT %s",
                             (vec, vec, 5))

* the decorator pattern: your own function under :func:`agentwatch.track_vector_search`, which
  calls :func:`annotate` with the SQL it runs so the span gets the same details.

Before :func:`agentwatch.configure` both only run the query. Nothing here ever raises into the
caller except the database's own exceptions, unchanged.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from agentwatch import _state, errors, names
from agentwatch.call import NOOP_CALL, Call
from agentwatch.decorators import _number, current_call
from agentwatch.pgvector_sql import DISTANCE_OPERATORS, VectorQuery, parse_query
from agentwatch.records import AttributeValue, VectorSearch
from agentwatch.sanitize import attribute_value
from agentwatch.tracking import _begin, _detach, _fail, _finish

#: the score column when none is named: the first of these the query selects
SCORE_COLUMNS: Final = ("score", "similarity", "relevance_score", "distance")
_QUERY_TEXT_MAX = 2048


# --- where the database is ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Server:
    address: str | None = None
    port: int | None = None
    database: str | None = None


def _port(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def server_of(target: Any) -> Server:
    """Host, port and database of a psycopg connection / cursor or a SQLAlchemy connection / session."""
    try:
        conn = getattr(target, "connection", None) if hasattr(target, "fetchall") else target
        info = getattr(conn, "info", None)
        host = getattr(info, "host", None)
        if isinstance(host, str):  # psycopg 3 and psycopg2 ConnectionInfo
            return Server(host or None, _port(getattr(info, "port", None)), getattr(info, "dbname", None))
        url = _sqlalchemy_url(target)
        if url is not None:
            host = getattr(url, "host", None)
            port = _port(getattr(url, "port", None))
            if host and port is None:
                port = 5432
            return Server(host, port, getattr(url, "database", None))
        dsn = getattr(conn, "dsn", None)
        if isinstance(dsn, str) and "://" in dsn:
            parts = urlsplit(dsn)
            return Server(parts.hostname, parts.port, parts.path.lstrip("/") or None)
    except Exception as exc:
        errors.report("pgvector", exc)
    return Server()


def _sqlalchemy_url(target: Any) -> Any:
    for path in (("engine", "url"), ("bind", "url"), ("url",)):
        obj = target
        for attr in path:
            obj = getattr(obj, attr, None)
            if obj is None:
                break
        if obj is not None and hasattr(obj, "drivername"):
            return obj
    get_bind = getattr(target, "get_bind", None)
    if callable(get_bind):
        url = getattr(get_bind(), "url", None)
        if url is not None and hasattr(url, "drivername"):
            return url
    return None


# --- the query and its rows -----------------------------------------------------------------------
def _sql_of(query: Any, target: Any) -> str:
    if isinstance(query, str):
        return query
    if isinstance(query, bytes):
        return query.decode("utf-8", "replace")
    text = getattr(query, "text", None)  # SQLAlchemy text()
    if isinstance(text, str):
        return text
    as_string = getattr(query, "as_string", None)  # psycopg.sql.Composed
    if callable(as_string):
        for context in (target, None):
            try:
                result = as_string(context)
            except Exception:
                continue
            if isinstance(result, str):
                return result
    return str(query)


def _columns(cursor: Any) -> list[str]:
    description = getattr(cursor, "description", None)
    if description:
        return [getattr(d, "name", None) or d[0] for d in description]
    keys = getattr(cursor, "keys", None)  # SQLAlchemy Result
    if callable(keys):
        return [str(k) for k in keys()]
    return []


def documents(
    rows: Sequence[Any],
    columns: Sequence[str] = (),
    *,
    id_column: str = "id",
    score_column: str | None = None,
) -> list[tuple[str | None, float | None]]:
    """``(id, score)`` of each row: plain tuples by column position, mappings, named tuples and
    SQLAlchemy rows by name."""
    if not columns and rows and isinstance(rows[0], Mapping):
        columns = list(rows[0].keys())
    if score_column is None:
        score_column = next((c for c in SCORE_COLUMNS if c in columns), None)
    id_at = columns.index(id_column) if id_column in columns else None
    score_at = columns.index(score_column) if score_column is not None and score_column in columns else None
    out: list[tuple[str | None, float | None]] = []
    for row in rows:
        if isinstance(row, tuple) and not hasattr(row, "_fields"):
            rid = row[id_at] if id_at is not None else None
            score = row[score_at] if score_at is not None else None
        else:
            rid = _pick(row, id_column)
            score = _pick(row, score_column) if score_column is not None else None
        out.append((None if rid is None else str(rid), _number(score)))
    return out


def _pick(row: Any, key: str) -> Any:
    if isinstance(row, Mapping):
        return row.get(key)
    mapping = getattr(row, "_mapping", None)
    if isinstance(mapping, Mapping):
        return mapping.get(key)
    return getattr(row, key, None)


def _record(target: Any, info: VectorQuery, params: Any, collection: str | None,
            top_k: int | None) -> tuple[VectorSearch, Server]:
    server = server_of(target)
    record = VectorSearch(
        db=names.DB_SYSTEM_POSTGRESQL,
        collection=collection or info.table or names.UNKNOWN_LABEL_VALUE,
        top_k=top_k if top_k is not None else info.top_k(params),
        server_address=server.address,
        server_port=server.port,
        operation=info.operation,
    )
    return record, server


@functools.lru_cache(maxsize=512)
def _attributes(sql: str, database: str | None) -> tuple[tuple[str, AttributeValue], ...]:
    """The span attributes a statement and its database give, made safe once per statement."""
    info = parse_query(sql)
    raw: list[tuple[str, Any]] = [
        (names.RETRIEVAL_DISTANCE_OPERATOR, info.operator),
        (names.RETRIEVAL_DISTANCE_METRIC, info.distance),
        (names.DB_QUERY_SUMMARY, info.summary),
        (names.DB_QUERY_TEXT, " ".join(sql.split())[:_QUERY_TEXT_MAX] if info.parameterized else None),
        (names.DB_NAMESPACE, database or None),
    ]
    pairs = []
    for key, value in raw:
        clean = attribute_value(value) if value is not None else None
        if clean is not None:
            pairs.append((key, clean))
    return tuple(pairs)


def _describe(call: Call, sql: str, server: Server) -> None:
    pairs = _attributes(sql, server.database)
    if call.attributes is None:
        call.attributes = dict(pairs)
    else:
        call.attributes.update(pairs)


def annotate(query: Any, params: Any = None, conn: Any = None, *, call: Call | None = None) -> None:
    """Put what ``query`` says (distance operator, ``LIMIT``, table summary, query text when it is
    parameterized) and where ``conn`` points (server address, port, database) on the current
    retrieval span. For functions decorated with :func:`agentwatch.track_vector_search`."""
    try:
        if _state.recorder is None:
            return
        target = call if call is not None else current_call()
        if target is NOOP_CALL or target.ended:
            return
        sql = _sql_of(query, conn)
        info = parse_query(sql)
        server = server_of(conn) if conn is not None else Server()
        _describe(target, sql, server)
        record = target.record
        if isinstance(record, VectorSearch):
            if record.top_k is None:
                top_k = info.top_k(params)
                if top_k is not None:
                    target.set_attribute(names.RETRIEVAL_TOP_K, top_k)
            if record.server_address is None and server.address:
                target.set_attribute(names.SERVER_ADDRESS, server.address)
                if server.port:
                    target.set_attribute(names.SERVER_PORT, server.port)
    except Exception as exc:
        errors.report("pgvector", exc)


def _rows(cursor: Any) -> list[Any]:
    rows = cursor.fetchall()
    return rows if isinstance(rows, list) else list(rows)


def _run(target: Any, query: Any, params: Any) -> tuple[list[Any], list[str]]:
    if hasattr(target, "fetchall"):  # a DB-API cursor: execute() may return None (psycopg2)
        target.execute(query, params)
        cursor = target
    else:  # a psycopg connection, a SQLAlchemy connection or session
        cursor = target.execute(query, params)
    return _rows(cursor), _columns(cursor)


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def _arun(target: Any, query: Any, params: Any) -> tuple[list[Any], list[str]]:
    if hasattr(target, "fetchall"):
        await _maybe_await(target.execute(query, params))
        cursor = target
    else:
        cursor = await _maybe_await(target.execute(query, params))
    rows = await _maybe_await(cursor.fetchall())
    return (rows if isinstance(rows, list) else list(rows)), _columns(cursor)


def _end(
    begun: tuple[Call, object],
    error: BaseException | None,
    rows: list[Any] | None = None,
    columns: list[str] | None = None,
    id_column: str = "id",
    score_column: str | None = None,
) -> list[Any]:
    call, token = begun
    _detach(token)
    if error is not None:
        _fail(call, error)
        return []
    assert rows is not None
    try:
        call.set_documents(documents(rows, columns or [], id_column=id_column, score_column=score_column))
    except Exception as exc:
        errors.report("pgvector", exc)
    _finish(call)
    return rows


def _start(target: Any, query: Any, params: Any, collection: str | None,
           top_k: int | None) -> tuple[Call, object] | None:
    try:
        sql = _sql_of(query, target)
        info = parse_query(sql)
        record, server = _record(target, info, params, collection, top_k)
    except Exception as exc:
        errors.report("pgvector", exc)
        return None
    begun = _begin(record)
    if begun is not None:
        _describe(begun[0], sql, server)
    return begun


def search(
    target: Any,
    query: Any,
    params: Any = None,
    *,
    collection: str | None = None,
    top_k: int | None = None,
    id_column: str = "id",
    score_column: str | None = None,
) -> list[Any]:
    """Run a vector search on ``target`` (psycopg connection or cursor, SQLAlchemy connection or
    session) and return all its rows, recording one ``retrieval {table}`` span.

    ``collection`` and ``top_k`` override what is read from the SQL. Ids come from the column
    ``id_column``, scores from ``score_column`` (default: the first of ``score``, ``similarity``,
    ``relevance_score``, ``distance`` the query selects).
    """
    begun = _start(target, query, params, collection, top_k) if _state.recorder is not None else None
    if begun is None:
        return _run(target, query, params)[0]
    try:
        rows, columns = _run(target, query, params)
    except BaseException as exc:
        _end(begun, exc)
        raise
    return _end(begun, None, rows, columns, id_column, score_column)


async def asearch(
    target: Any,
    query: Any,
    params: Any = None,
    *,
    collection: str | None = None,
    top_k: int | None = None,
    id_column: str = "id",
    score_column: str | None = None,
) -> list[Any]:
    """:func:`search` for psycopg ``AsyncConnection`` / ``AsyncCursor`` and SQLAlchemy
    ``AsyncConnection`` / ``AsyncSession``."""
    begun = _start(target, query, params, collection, top_k) if _state.recorder is not None else None
    if begun is None:
        return (await _arun(target, query, params))[0]
    try:
        rows, columns = await _arun(target, query, params)
    except BaseException as exc:
        _end(begun, exc)
        raise
    return _end(begun, None, rows, columns, id_column, score_column)


__all__ = [
    "DISTANCE_OPERATORS",
    "Server",
    "VectorQuery",
    "annotate",
    "asearch",
    "documents",
    "parse_query",
    "search",
    "server_of",
]
