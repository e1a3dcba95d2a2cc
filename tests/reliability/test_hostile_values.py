"""Hostile values: results, streams, content, exception messages and setter arguments that no model
or user should send (deep nesting, lone surrogates, huge or non-finite numbers, objects whose
``__str__`` raises). The user's code gets its values and exceptions back unchanged; what agentwatch
keeps is exportable, and what it refuses is counted."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from typing import Any

import pytest

import agentwatch
from agentwatch.testing import Captured, capture

from .conftest import assert_exportable, internal_errors


# --- hostile values through the decorators --------------------------------------------------------
def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


HOSTILE_RESULTS: list[Any] = [
    {"usage": {"prompt_tokens": "ten", "completion_tokens": 3}},
    {"usage": {"prompt_tokens": float("nan"), "completion_tokens": 3}},
    {"usage": {"prompt_tokens": -5, "completion_tokens": 3}},
    {"usage": {"prompt_tokens": 10**30, "completion_tokens": 3}},
    {"usage": {"prompt_tokens": float("inf"), "completion_tokens": 3}},
    {"usage": [1, 2, 3]},
    {"usage": None, "model": b"\xff\xfe", "id": 12},
    {"model": "gpt-4o\udcff", "id": "x\ud800y", "choices": [{"finish_reason": "st\udc80op"}],
     "usage": {"prompt_tokens": 1, "completion_tokens": 1}},
    {"model": ["not", "a", "string"], "choices": "nope", "usage": {"input_tokens": True}},
    nested(5000),
    "x" * 5_000_000,
    b"\xff\xfe\x00",
    float("nan"),
    object(),
]


@pytest.mark.parametrize("result", HOSTILE_RESULTS, ids=lambda r: type(r).__name__)
def test_hostile_results_pass_through_unchanged(tel: Captured, result: Any) -> None:
    @agentwatch.track_inference(provider="openai", model="gpt-4o")
    def ask() -> Any:
        return result

    assert ask() is result
    [span] = tel.spans
    assert span.name == "chat gpt-4o"
    assert_exportable(tel.spans)
    a = span.attributes or {}
    if "gen_ai.usage.input_tokens" in a:
        assert 0 <= int(a["gen_ai.usage.input_tokens"]) < 2**63  # type: ignore[call-overload]


def test_hostile_result_in_streams(tel: Captured) -> None:
    chunks: list[Any] = [nested(3000), {"usage": {"prompt_tokens": -1}}, "\udcff", b"\xff", None,
                         {"choices": [{"finish_reason": 5}]}, {"usage": {"prompt_tokens": 7, "completion_tokens": 2}}]

    @agentwatch.track_inference(provider="openai", model="gpt-4o")
    def stream() -> Iterator[Any]:
        yield from chunks

    @agentwatch.track_inference(provider="openai", model="gpt-4o-mini")
    async def astream() -> Any:
        for c in chunks:
            yield c

    async def consume() -> list[Any]:
        return [c async for c in astream()]

    assert list(stream()) == chunks
    assert asyncio.run(consume()) == chunks
    assert len(tel.spans) == 2
    assert_exportable(tel.spans)
    for span in tel.spans:
        assert (span.attributes or {})["gen_ai.usage.input_tokens"] == 7


def test_hostile_content_with_capture_on(monkeypatch: pytest.MonkeyPatch) -> None:
    with capture(capture_content=True, content_max_chars=1000) as tel:
        @agentwatch.track_tool(name="t\udc80ool")
        def tool(arg: Any) -> Any:
            return arg

        @agentwatch.track_vector_search(db="pgvector", collection="docs\udcff", query_arg="q")
        def search(q: Any) -> list[Any]:
            return [{"id": "\udc80", "score": float("nan"), "content": q}, {"id": 1, "score": "high"}]

        for value in (nested(10_000), "y" * 3_000_000, b"\xff\xfe", "\udcff" * 10, {"k": nested(2000)},
                      float("nan"), [float("inf")]):
            assert tool(value) is value
            assert search(value)[0]["content"] is value
        spans = tel.spans
        assert len(spans) == 14
        assert_exportable(spans)
        for span in spans:
            for key, value in (span.attributes or {}).items():
                if isinstance(value, str) and key != "gen_ai.retrieval.documents":
                    assert len(value) <= 1000 + len("…[truncated]"), key


def test_exception_with_hostile_message_still_reraised(tel: Captured) -> None:
    class Nasty(Exception):
        def __str__(self) -> str:
            raise RuntimeError("str() of this exception fails")

    @agentwatch.stage("fragile")
    def fragile(kind: int) -> None:
        if kind == 0:
            raise Nasty()
        raise ValueError("bad \udcff byte and key sk-abcdefghijklmnopqrstuvwx")

    with pytest.raises(Nasty):
        fragile(0)
    with pytest.raises(ValueError, match="bad"):
        fragile(1)
    spans = tel.spans_named("fragile")
    assert len(spans) == 2
    assert_exportable(spans)
    assert "sk-abcdefghijklmnopqrstuvwx" not in (spans[1].status.description or "")


# --- hostile values through the Call setters ------------------------------------------------------
SETTER_CALLS: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("record_usage", ("ten",), {}),
    ("record_usage", (float("nan"), 1), {}),
    ("record_usage", (-1, 1), {}),
    ("record_usage", (10**40, 1), {}),
    ("record_usage", (float("inf"),), {}),
    ("record_usage", (), {"input_tokens": [1], "output_tokens": {}}),
    ("set_usage", ("usage",), {}),
    ("set_response_model", (b"\xff",), {}),
    ("set_response_model", ("m\udcff" * 10_000,), {}),
    ("set_response_id", (12,), {}),
    ("set_finish_reasons", ("stop",), {}),
    ("set_finish_reasons", (5,), {}),
    ("set_finish_reasons", ([None, "\udc80", 3],), {}),
    ("set_attribute", ("k", {"a": 1}), {}),
    ("set_attribute", ("k", [1, "a"]), {}),
    ("set_attribute", ("k", 10**30), {}),
    ("set_attribute", ("k", "\udcff"), {}),
    ("set_attribute", ("k", b"\xff"), {}),
    ("set_attribute", ("k", nested(1000)), {}),
    ("set_attribute", (5, "v"), {}),
    ("set_attribute", ("\udcffkey", float("nan")), {}),
    ("mark_first_chunk", ("soon",), {}),
    ("set_documents", ([("a", "high"), (None, float("nan"))],), {}),
    ("set_documents", (5,), {}),
    ("set_documents", (["abc"],), {}),
    ("set_returned", ("many",), {}),
    ("set_returned", (-3,), {}),
    ("set_outcome", ("weird-outcome-123",), {}),
    ("set_attempts", (float("nan"),), {}),
    ("set_tool_calls", (None,), {}),
    ("set_tool_calls", ("search",), {}),
    ("add_route", (nested(100),), {}),
    ("set_output", (nested(10_000),), {}),
]


@pytest.mark.parametrize(("method", "args", "kwargs"), SETTER_CALLS,
                         ids=[f"{m}-{i}" for i, (m, _, _) in enumerate(SETTER_CALLS)])
def test_hostile_setter_values_never_raise(
    tel: Captured, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    @agentwatch.track_inference(provider="openai", model="gpt-4o")
    def ask() -> str:
        getattr(agentwatch.current_call(), method)(*args, **kwargs)
        return "done"

    @agentwatch.stage("outer")
    def outer() -> str:
        getattr(agentwatch.current_call(), method)(*args, **kwargs)
        return ask()

    assert outer() == "done"
    assert {s.name for s in tel.spans} == {"chat gpt-4o", "outer"}
    assert_exportable(tel.spans)
    # A hostile outcome never becomes a metric label.
    outcomes = {s.labels.get("outcome") for m in tel.registry.collect() for s in m.samples
                if "outcome" in s.labels}
    assert outcomes <= {"ok", "error", "interrupted"}


def test_numbers_out_of_range_are_refused_not_clamped_into_costs(tel: Captured) -> None:
    @agentwatch.track_inference(provider="openai", model="gpt-4o")
    def ask() -> str:
        agentwatch.current_call().record_usage(input_tokens=10**40, output_tokens=5)
        return "x"

    ask()
    a = tel.span("chat gpt-4o").attributes or {}
    assert "agentwatch.cost.usd" not in a
    assert a["agentwatch.usage.reported"] is False
    assert internal_errors(tel, "usage") == 1
    assert not any(math.isinf(float(v)) for v in a.values() if isinstance(v, float))
