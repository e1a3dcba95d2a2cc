"""Property-based tests: arbitrary JSON-shaped (and worse) values through the decorators, the Call
setters and record building never raise out of agentwatch, never change what the user's function
returns, and always give spans the OTLP encoder takes whole."""

from __future__ import annotations

import logging
import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

import agentwatch
from agentwatch.records import Inference, Stage, ToolCall, VectorSearch
from agentwatch.testing import Captured, capture

SETTINGS = settings(max_examples=100, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

surrogates = st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3)
texts = st.one_of(st.text(max_size=30), surrogates, st.builds(lambda a, b: a + b, st.text(max_size=5), surrogates))
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 2**63, 2**64, float("nan"), float("inf"), 10**30]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts, st.binary(max_size=8))
json_like = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(texts, children, max_size=4)),
    max_leaves=25,
)
USAGE_KEYS = ["prompt_tokens", "completion_tokens", "total_tokens", "input_tokens", "output_tokens",
              "cache_read_input_tokens", "cache_creation_input_tokens", "prompt_tokens_details",
              "completion_tokens_details", "cached_tokens", "reasoning_tokens", "input_token_details"]
usage_like = st.dictionaries(st.sampled_from(USAGE_KEYS), st.one_of(numbers, json_like), max_size=6)
results = st.one_of(
    json_like,
    st.fixed_dictionaries({"usage": usage_like}, optional={
        "model": st.one_of(texts, json_like), "id": st.one_of(texts, json_like),
        "choices": st.one_of(st.lists(st.fixed_dictionaries({"finish_reason": st.one_of(texts, json_like)}),
                                      max_size=3), json_like),
    }),
    st.fixed_dictionaries({"usage_metadata": usage_like}),
)


def exportable(tel: Captured) -> None:
    records: list[logging.LogRecord] = []

    class Grab(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("opentelemetry.exporter.otlp.proto.common._internal")
    handler = Grab()
    logger.addHandler(handler)
    try:
        assert encode_spans(tel.spans).SerializeToString()
    finally:
        logger.removeHandler(handler)
    assert records == []
    for span in tel.spans:
        for value in (span.attributes or {}).values():
            if isinstance(value, int) and not isinstance(value, bool):
                assert -(2**63) <= value < 2**63


def test_decorators_return_whatever_the_function_returns() -> None:
    with capture() as tel:
        @SETTINGS
        @given(result=results)
        def check(result: Any) -> None:
            tel.clear()

            @agentwatch.track_inference(provider="openai", model="gpt-4o")
            def ask() -> Any:
                return result

            @agentwatch.track_inference(provider="openai", model="gpt-4o")
            def stream() -> Any:
                yield result
                yield result

            @agentwatch.track_vector_search(db="pgvector", collection="docs")
            def search() -> Any:
                return result

            @agentwatch.track_tool(name="tool")
            def tool() -> Any:
                return result

            assert ask() is result
            assert list(stream()) == [result, result] or _has_nan(result)
            assert search() is result
            assert tool() is result
            assert len(tel.spans) == 4
            exportable(tel)
            a = tel.spans[0].attributes or {}
            if "gen_ai.usage.input_tokens" in a:
                assert isinstance(a["gen_ai.usage.input_tokens"], int)
                assert a["gen_ai.usage.input_tokens"] >= 0

        check()


def _has_nan(value: Any) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, list):
        return any(_has_nan(v) for v in value)
    if isinstance(value, dict):
        return any(_has_nan(v) for v in value.values())
    return False


SETTERS = ["record_usage", "set_usage", "set_response_model", "set_response_id", "set_finish_reasons",
           "set_attribute", "mark_first_chunk", "set_documents", "set_returned", "set_outcome",
           "set_attempts", "set_tool_calls", "set_output", "add_route"]


# Each setter with the number of arguments it takes (a wrong count is the caller's TypeError, as for
# any function): the values are what is hostile.
setter_calls = st.one_of(
    st.tuples(st.sampled_from([m for m in SETTERS if m not in ("record_usage", "mark_first_chunk",
                                                                 "set_attribute")]),
              st.lists(json_like, min_size=1, max_size=1)),
    st.tuples(st.just("set_attribute"), st.tuples(st.one_of(texts, json_like), json_like).map(list)),
    st.tuples(st.just("record_usage"), st.lists(json_like, max_size=5)),
    st.tuples(st.just("mark_first_chunk"), st.lists(json_like, max_size=1)),
)


def test_call_setters_accept_anything() -> None:
    with capture(capture_content=True) as tel:
        @SETTINGS
        @given(calls=st.lists(setter_calls, max_size=6),
               kwargs=st.dictionaries(st.sampled_from(["input_tokens", "output_tokens", "estimated"]), json_like,
                                      max_size=2))
        def check(calls: list[tuple[str, list[Any]]], kwargs: dict[str, Any]) -> None:
            tel.clear()

            @agentwatch.track_inference(provider="openai", model="gpt-4o")
            def ask() -> str:
                call = agentwatch.current_call()
                for method, args in calls:
                    getattr(call, method)(*args)
                call.record_usage(**kwargs)
                return "ok"

            with agentwatch.stage("outer") as outer:
                for method, args in calls:
                    getattr(outer, method)(*args)
                assert ask() == "ok"
            assert len(tel.spans) == 2
            exportable(tel)
            outcomes = {s.labels["outcome"] for m in tel.registry.collect() for s in m.samples
                        if "outcome" in s.labels}
            assert outcomes <= {"ok", "error", "interrupted"}

        check()


def test_records_with_arbitrary_names_build_exportable_spans() -> None:
    with capture(capture_content=True) as tel:
        recorder = tel.telemetry.recorder

        @SETTINGS
        @given(a=texts, b=texts, c=texts, content=json_like, top_k=st.one_of(st.none(), st.integers(0, 2**40)))
        def check(a: str, b: str, c: str, content: Any, top_k: int | None) -> None:
            tel.clear()
            records = [
                Inference(provider=a or "p", model=b or "m", operation=c or "chat", input_messages=content),
                Stage(name=a or "s", graph=b),
                ToolCall(name=a or "t", call_id=b, description=c, arguments=content),
                VectorSearch(db=a or "db", collection=b or "c", top_k=top_k, query=content),
            ]
            with agentwatch.context(user_id=a, session_id=b, request_id=c):
                calls = [recorder.start(r) for r in records]
            for call in reversed(calls):
                call.set_output(content)
                recorder.finish(call)
            assert len(tel.spans) == 4
            exportable(tel)

        check()


def test_price_lookups_never_raise() -> None:
    from agentwatch.pricing import PriceBook
    from agentwatch.usage import Usage

    book = PriceBook.default()
    counts = st.integers(min_value=0, max_value=2**53)

    @SETTINGS
    @given(provider=st.one_of(st.none(), texts, st.sampled_from(["openai", "anthropic", "google", "aws.bedrock"])),
           model=st.one_of(texts, st.sampled_from(["gpt-4o", "claude-haiku-4-5", "models/gemini-2.5-pro",
                                                   "gpt-4o-2024-08-06", "o3", ""])),
           parts=st.tuples(counts, counts, counts, counts, counts))
    def check(provider: str | None, model: str, parts: tuple[int, int, int, int, int]) -> None:
        inp, out, cache_read, cache_write, reasoning = parts
        usage = Usage(input_tokens=inp, output_tokens=out, cache_read_tokens=cache_read,
                      cache_write_tokens=cache_write, reasoning_tokens=reasoning)
        cost = book.price(provider, model, usage)
        if cost is not None:
            assert math.isfinite(cost.total) and cost.total >= 0
        assert isinstance(book.model_label(provider, model), str)

    check()
