"""What a pgvector query says about itself, read from its SQL text alone: the table it searches,
the distance operator it orders by, its ``LIMIT`` (a literal or a parameter) and whether its values
are passed as parameters (only then may the text go on a span)."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

#: pgvector's distance operators and what they measure.
DISTANCE_OPERATORS: Final[Mapping[str, str]] = {
    "<=>": "cosine",
    "<->": "l2",
    "<#>": "inner_product",  # the negative inner product
    "<+>": "l1",
    "<~>": "hamming",
    "<%>": "jaccard",
}

_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)'
_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)
_LITERALS = re.compile(r"'(?:[^']|'')*'")
_OPERATOR = re.compile(r"<=>|<->|<#>|<\+>|<~>|<%>")
_OPERAND = re.compile(rf"({_IDENT}(?:\s*\.\s*{_IDENT})*)\s*\)*\s*$")
_TABLE = re.compile(
    rf"\b(?:FROM|JOIN)\s+(?:ONLY\s+)?({_IDENT}(?:\s*\.\s*{_IDENT})?)(?![\w$.]|\s*[(.])"
    rf"(?:\s+(?:AS\s+)?({_IDENT}))?",
    re.I,
)
_CTE = re.compile(
    rf"(?:\bWITH(?:\s+RECURSIVE)?|,)\s*({_IDENT})\s+AS\s+(?:NOT\s+)?(?:MATERIALIZED\s+)?\(", re.I
)
_LIMIT = re.compile(
    r"\bLIMIT\s+(?:(\d+)|(%s)|%\((\w+)\)s|(?<!:):(\w+)|\$(\d+)|(\?))"
    r"|\bFETCH\s+(?:FIRST|NEXT)\s+(\d+)\s+ROWS?\b",
    re.I,
)
_PLACEHOLDER = re.compile(r"%s|%\(\w+\)s|(?<!:):[A-Za-z_]\w*|\$\d+|\?")
_FIRST_WORD = re.compile(r"\s*\(*\s*([A-Za-z]+)")
_NOT_ALIASES = frozenset({
    "where", "order", "group", "limit", "offset", "fetch", "join", "inner", "left", "right", "full",
    "cross", "natural", "on", "using", "union", "except", "intersect", "having", "window", "for",
    "lateral", "tablesample", "returning", "set", "values",
})


@dataclass(frozen=True, slots=True)
class VectorQuery:
    """What a vector-search SQL statement says about itself (see :func:`parse_query`)."""

    #: the searched table as written (schema-qualified if it was), quotes removed
    table: str | None
    #: pgvector distance operator (``<=>``, ``<->``, ``<#>`` ...) and its metric name
    operator: str | None
    distance: str | None
    #: ``LIMIT 5``: the number; ``LIMIT %s`` / ``$2`` / ``?``: its 0-based position among the
    #: positional parameters; ``LIMIT %(k)s`` / ``:k``: the parameter's name
    limit: int | None
    limit_param: int | str | None
    #: ``SELECT``, ``WITH`` ...
    operation: str | None
    #: True when the statement has bind parameters and no string literals (safe to record as text)
    parameterized: bool

    def top_k(self, params: Any = None) -> int | None:
        """The row limit, reading a bound ``LIMIT`` from ``params`` (a sequence or a mapping)."""
        if self.limit is not None:
            return self.limit
        if self.limit_param is None or params is None:
            return None
        try:
            if isinstance(self.limit_param, str):
                value = params[self.limit_param] if isinstance(params, Mapping) else None
            elif isinstance(params, Sequence) and not isinstance(params, (str, bytes)):
                value = params[self.limit_param]
            else:
                value = None
        except (IndexError, KeyError, TypeError):
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            return None
        return value

    @property
    def summary(self) -> str | None:
        """``db.query.summary``: operation and table, e.g. ``SELECT job_postings``."""
        if self.operation is None:
            return None
        return f"{self.operation} {self.table}" if self.table else self.operation


def _unquote(identifier: str) -> str:
    parts = re.findall(rf"{_IDENT}", identifier)
    return ".".join(p[1:-1].replace('""', '"') if p.startswith('"') else p for p in parts)


def _depths(sql: str) -> list[int]:
    depth, out = 0, []
    for ch in sql:
        if ch == "(":
            out.append(depth)
            depth += 1
        elif ch == ")":
            depth = max(depth - 1, 0)
            out.append(depth)
        else:
            out.append(depth)
    return out


def _group(sql: str, depths: list[int], pos: int) -> tuple[int, int]:
    """Bounds of the innermost parenthesised group (or the statement) containing ``pos``."""
    level = depths[pos] if pos < len(depths) else 0
    start = pos
    while start > 0 and not (sql[start - 1] == "(" and depths[start - 1] == level - 1):
        start -= 1
    end = pos
    while end < len(sql) and not (sql[end] == ")" and depths[end] == level - 1):
        end += 1
    return start, end


@functools.lru_cache(maxsize=512)
def parse_query(sql: str) -> VectorQuery:
    """Read the table, distance operator and ``LIMIT`` of a vector-search statement.

    A plain reading of the SQL, not a parser: the table is the one the distance operator's column
    is qualified with, else the first ``FROM`` table in the same (sub)query as the operator; the
    operator is the one in ``ORDER BY`` when there is one. Results are cached per statement.
    """
    has_literals = "'" in sql
    text = _LITERALS.sub("''", _COMMENTS.sub(" ", sql))
    depths = _depths(text)
    order_by = re.search(r"\bORDER\s+BY\b", text, re.I)
    op_match = (_OPERATOR.search(text, order_by.end()) if order_by else None) or _OPERATOR.search(text)
    anchor = op_match.start() if op_match else (order_by.start() if order_by else 0)
    start, end = _group(text, depths, anchor)
    level = depths[anchor] if anchor < len(depths) else 0

    ctes = {_unquote(m.group(1)).lower() for m in _CTE.finditer(text)}
    tables: list[tuple[int, str, str | None]] = []
    for m in _TABLE.finditer(text):
        name = _unquote(m.group(1))
        alias = m.group(2)
        if alias is not None and alias.lower() in _NOT_ALIASES:
            alias = None
        if name.lower() in ctes:
            continue
        tables.append((m.start(), name, _unquote(alias) if alias else None))

    table: str | None = None
    if op_match is not None:
        operand = _OPERAND.search(text[:op_match.start()])
        if operand is not None and "." in operand.group(1):
            qualifier = _unquote(operand.group(1)).rsplit(".", 1)[0]
            for _, name, alias in tables:
                if qualifier in (alias, name, name.rsplit(".", 1)[-1]):
                    table = name
                    break
            else:  # listed after a comma, or in a clause this reading skips: the qualifier is the table
                if qualifier.lower() not in ctes:
                    table = qualifier
    if table is None:
        same_group = [t for t in tables if start <= t[0] < end and depths[t[0]] == level]
        chosen = same_group or tables
        table = chosen[0][1] if chosen else None

    limit: int | None = None
    limit_param: int | str | None = None
    limits = list(_LIMIT.finditer(text))
    in_group = [m for m in limits if start <= m.start() < end and depths[m.start()] == level]
    candidates = in_group or limits
    lm = candidates[0] if candidates else None
    if lm is not None:
        literal, positional, pyformat, named, dollar, qmark, fetch = lm.groups()
        if literal or fetch:
            limit = int(literal or fetch)
        elif positional or qmark:
            limit_param = text.count("%s" if positional else "?", 0, lm.start())
        elif dollar:
            limit_param = int(dollar) - 1
        else:
            limit_param = pyformat or named

    first = _FIRST_WORD.match(text)
    operation = first.group(1).upper() if first else None
    if operation == "WITH" and re.search(r"\bSELECT\b", text, re.I):
        operation = "SELECT"
    operator = op_match.group(0) if op_match else None
    return VectorQuery(
        table=table,
        operator=operator,
        distance=DISTANCE_OPERATORS.get(operator) if operator else None,
        limit=limit,
        limit_param=limit_param,
        operation=operation,
        parameterized=bool(_PLACEHOLDER.search(text)) and not has_literals,
    )
