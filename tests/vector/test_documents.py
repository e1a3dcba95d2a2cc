"""What track_vector_search reads from the shapes searches return."""

from __future__ import annotations

import json
from collections import namedtuple
from decimal import Decimal
from typing import Any

import pytest

import agentwatch
from agentwatch.decorators import documents_from_result
from agentwatch.pgvector import documents
from agentwatch.testing import Captured


class Row:
    """Looks like a SQLAlchemy row: a sequence with a ``_mapping``."""

    def __init__(self, **values: Any) -> None:
        self._mapping = values

    def __iter__(self) -> Any:
        return iter(self._mapping.values())


def test_shapes() -> None:
    np = pytest.importorskip("numpy")
    Hit = namedtuple("Hit", "id title score")
    assert documents_from_result([("a", 0.9), (7, np.float32(0.5)), ({"id": "c"}, Decimal("0.25"))]) == [
        ("a", 0.9), ("7", 0.5), ("c", 0.25)]
    assert documents_from_result([Hit(1, "x", 0.8), Row(id=2, distance=0.1), {"metadata": {"id": "m"}}]) == [
        ("1", 0.8), ("2", 0.1), ("m", None)]
    assert documents_from_result(["a", 3]) == [("a", None), ("3", None)]
    # a NaN or a bool is no score; a pair whose second item is no number is one document
    assert documents_from_result([("a", float("nan"))]) == [(None, None)]
    assert documents_from_result([({"id": "a"}, True)]) == [(None, None)]
    assert documents_from_result(iter([("a", 1.0)])) is None
    assert documents_from_result({"id": "a"}) is None


def test_rows_by_column() -> None:
    rows = [(11, "t", 0.75), (12, "u", 0.5)]
    assert documents(rows, ["id", "title", "score"]) == [("11", 0.75), ("12", 0.5)]
    assert documents(rows, ["job", "title", "sim"], id_column="job", score_column="sim") == [
        ("11", 0.75), ("12", 0.5)]
    assert documents([{"id": 1, "distance": 0.2}]) == [("1", 0.2)]
    assert documents(rows, ["a", "b", "c"]) == [(None, None), (None, None)]


def test_outer_search_keeps_the_scores_of_the_inner_one(tel: Captured) -> None:
    @agentwatch.track_vector_search("memory", "jobs", top_k_arg="k")
    def with_scores(query: str, k: int = 3) -> list[tuple[dict[str, str], float]]:
        return [({"id": f"j{i}"}, 1.0 - i / 10) for i in range(k)]

    @agentwatch.track_vector_search("memory", "jobs", top_k_arg="k")
    def plain(query: str, k: int = 3) -> list[dict[str, str]]:
        return [doc for doc, _ in with_scores(query, k)]

    assert len(plain("python", k=2)) == 2
    span = tel.span("retrieval jobs")  # one span: the inner search lends to the outer one
    a = span.attributes or {}
    assert json.loads(str(a["gen_ai.retrieval.documents"])) == [
        {"id": "j0", "score": 1.0}, {"id": "j1", "score": 0.9}]
    assert a["agentwatch.retrieval.top_score"] == 1.0
    assert a["agentwatch.retrieval.top_k"] == 2
