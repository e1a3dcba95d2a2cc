"""The decorators on every kind of function: spans, attributes, metrics, exceptions, signatures."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode

import agentwatch
from agentwatch.testing import Captured


def chat_result(prompt: int = 100, completion: int = 20, cached: int = 0, reasoning: int = 0,
                model: str = "gpt-4o-2024-08-06") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached},
            "completion_tokens_details": {"reasoning_tokens": reasoning},
        },
    }


def test_sync_inference_span_attributes_and_cost(tel: Captured) -> None:
    @agentwatch.track_inference(provider="openai", model="gpt-4o", temperature=0.2)
    def ask(q: str) -> dict[str, Any]:
        return chat_result(prompt=1000, completion=200, cached=400)

    result = ask("hello")
    assert result["id"] == "chatcmpl-1"
    span = tel.span("chat gpt-4o")
    a = span.attributes or {}
    assert span.kind == SpanKind.CLIENT
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "gpt-4o"
    assert a["gen_ai.request.temperature"] == 0.2
    assert a["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    assert a["gen_ai.response.id"] == "chatcmpl-1"
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["gen_ai.usage.input_tokens"] == 1000
    assert a["gen_ai.usage.output_tokens"] == 200
    assert a["gen_ai.usage.cache_read.input_tokens"] == 400
    assert a["agentwatch.usage.estimated"] is False
    # gpt-4o: $2.50 / M input, $1.25 / M cached input, $10.00 / M output
    expected_input = (600 * 2.50 + 400 * 1.25) / 1e6
    expected_output = 200 * 10.00 / 1e6
    assert a["agentwatch.cost.input_usd"] == pytest.approx(expected_input, abs=1e-12)
    assert a["agentwatch.cost.output_usd"] == pytest.approx(expected_output, abs=1e-12)
    assert a["agentwatch.cost.usd"] == pytest.approx(expected_input + expected_output, abs=1e-12)
    assert str(a["agentwatch.cost.source"]).startswith("genai-prices")
    labels = {"provider": "openai", "model": "gpt-4o", "operation": "chat"}
    assert tel.sample("agentwatch_llm_calls_total", **labels, outcome="ok") == 1
    assert tel.sample("agentwatch_llm_tokens_total", **labels, type="input") == 1000
    assert tel.sample("agentwatch_llm_tokens_total", **labels, type="output") == 200
    assert tel.sample("agentwatch_llm_tokens_total", **labels, type="cache_read") == 400
    assert tel.sample("agentwatch_llm_cost_usd_total", **labels) == pytest.approx(
        expected_input + expected_output, abs=1e-12)
    assert tel.sample("agentwatch_llm_call_duration_seconds_count", **labels) == 1


def test_no_usage_is_said_not_invented(tel: Captured) -> None:
    @agentwatch.track_inference(provider="openai", model="gpt-4o")
    def ask() -> str:
        return "plain text, no usage"

    assert ask() == "plain text, no usage"
    a = tel.span("chat gpt-4o").attributes or {}
    assert "gen_ai.usage.input_tokens" not in a
    assert "agentwatch.cost.usd" not in a
    assert a["agentwatch.usage.reported"] is False
    labels = {"provider": "openai", "model": "gpt-4o", "operation": "chat"}
    assert tel.sample("agentwatch_llm_calls_total", **labels, outcome="ok") == 1
    assert tel.sample("agentwatch_llm_tokens_total", **labels, type="input") is None
    assert tel.sample("agentwatch_unpriced_calls_total", provider="openai", model="gpt-4o") is None


def test_current_call_overrides_usage(tel: Captured) -> None:
    @agentwatch.track_inference(provider="anthropic", model="claude-haiku-4-5")
    def ask() -> dict[str, Any]:
        call = agentwatch.current_call()
        call.record_usage(input_tokens=5000, output_tokens=100, cache_read_tokens=4000)
        call.set_response_model("claude-haiku-4-5-20251001")
        call.set_attribute("app.feature", "resume")
        return chat_result(prompt=1, completion=1)

    ask()
    a = tel.span("chat claude-haiku-4-5").attributes or {}
    assert a["gen_ai.usage.input_tokens"] == 5000
    assert a["gen_ai.usage.cache_read.input_tokens"] == 4000
    assert a["gen_ai.response.model"] == "claude-haiku-4-5-20251001"
    assert a["app.feature"] == "resume"
    # claude-haiku-4-5: $1 / M input, $0.10 / M cache read, $5 / M output
    assert a["agentwatch.cost.usd"] == pytest.approx((1000 * 1 + 4000 * 0.10 + 100 * 5) / 1e6, abs=1e-12)


def test_exception_reaches_caller_unchanged_and_is_recorded(tel: Captured) -> None:
    class QuotaError(RuntimeError):
        pass

    @agentwatch.track_inference(provider="openai", model="gpt-4o")
    def ask() -> None:
        raise QuotaError("over quota")

    with pytest.raises(QuotaError, match="over quota"):
        ask()
    span = tel.span("chat gpt-4o")
    assert span.status.status_code == StatusCode.ERROR
    assert (span.attributes or {})["error.type"].endswith("QuotaError")
    labels = {"provider": "openai", "model": "gpt-4o", "operation": "chat"}
    assert tel.sample("agentwatch_llm_calls_total", **labels, outcome="error") == 1
    error_type = (span.attributes or {})["error.type"]
    assert tel.sample("agentwatch_llm_errors_total", provider="openai", model="gpt-4o",
                      error_type=error_type) == 1


def test_signatures_and_function_kinds_are_unchanged() -> None:
    async def coro(a: int, *, b: str = "x") -> int:
        return a

    def gen(n: int) -> Any:
        yield n

    async def agen(n: int) -> Any:
        yield n

    def plain(a: int, b: int = 2) -> int:
        """Adds."""
        return a + b

    deco = agentwatch.track_inference(provider="openai", model="gpt-4o")
    assert inspect.iscoroutinefunction(deco(coro))
    assert inspect.isgeneratorfunction(deco(gen))
    assert inspect.isasyncgenfunction(deco(agen))
    wrapped = deco(plain)
    assert inspect.signature(wrapped) == inspect.signature(plain)
    assert wrapped.__name__ == "plain" and wrapped.__doc__ == "Adds."
    assert wrapped.__wrapped__ is plain  # type: ignore[attr-defined]


def test_noop_before_configure() -> None:
    agentwatch.shutdown()
    calls: list[int] = []

    @agentwatch.track_inference(provider="openai", model="gpt-4o")
    def ask(x: int) -> int:
        calls.append(x)
        assert agentwatch.current_call().__class__.__name__ == "NoopCall"
        agentwatch.current_call().record_usage(input_tokens=1)  # accepted, ignored
        return x * 2

    @agentwatch.stage("s")
    def step() -> int:
        return ask(3)

    with agentwatch.stage("outer"):
        assert step() == 6
    assert calls == [3]


async def test_async_inference_and_stage_rollup(tel: Captured) -> None:
    @agentwatch.track_inference(provider="openai", model="gpt-4o-mini")
    async def ask(n: int) -> dict[str, Any]:
        await asyncio.sleep(0)
        return chat_result(prompt=100 * n, completion=10 * n, model="gpt-4o-mini-2024-07-18")

    @agentwatch.stage("fan_out")
    async def fan_out() -> list[dict[str, Any]]:
        return await asyncio.gather(*(ask(n) for n in range(1, 101)))

    results = await fan_out()
    assert len(results) == 100
    stage = tel.span("fan_out")
    children = tel.children(stage)
    assert len(children) == 100
    assert all(c.name == "chat gpt-4o-mini" for c in children)
    assert all(c.context.trace_id == stage.context.trace_id for c in children)
    a = stage.attributes or {}
    total_in = sum(100 * n for n in range(1, 101))
    total_out = sum(10 * n for n in range(1, 101))
    assert a["agentwatch.stage.outcome"] == "ok"
    assert a["agentwatch.rollup.input_tokens"] == total_in
    assert a["agentwatch.rollup.output_tokens"] == total_out
    assert a["agentwatch.rollup.llm_calls"] == 100
    # gpt-4o-mini: $0.15 / M input, $0.60 / M output
    expected = (total_in * 0.15 + total_out * 0.60) / 1e6
    assert a["agentwatch.rollup.cost.usd"] == pytest.approx(expected, rel=1e-9)
    assert tel.sample("agentwatch_stage_runs_total", graph="", stage="fan_out", outcome="ok") == 1
    assert tel.sample("agentwatch_stage_cost_usd_total", graph="", stage="fan_out") == pytest.approx(
        expected, rel=1e-9)


def test_threads_with_copied_context_roll_up_exactly(tel: Captured) -> None:
    import contextvars
    from concurrent.futures import ThreadPoolExecutor

    @agentwatch.track_inference(provider="openai", model="gpt-4o-mini")
    def ask(n: int) -> dict[str, Any]:
        return chat_result(prompt=n, completion=1, model="gpt-4o-mini-2024-07-18")

    with agentwatch.stage("threads") as stage_call, ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(contextvars.copy_context().run, ask, n) for n in range(1, 201)]
        for f in futures:
            f.result()
    assert stage_call.rollup_calls == 200
    a = tel.span("threads").attributes or {}
    assert a["agentwatch.rollup.input_tokens"] == sum(range(1, 201))
    assert a["agentwatch.rollup.output_tokens"] == 200
    assert len(tel.children(tel.span("threads"))) == 200


def test_generator_stream_ends_when_exhausted_and_records_ttfc(tel: Captured) -> None:
    @agentwatch.track_inference(provider="openai", model="gpt-4o")
    def stream() -> Any:
        yield {"choices": [{"delta": {"content": "a"}}]}
        yield {"choices": [{"delta": {"content": "b"}, "finish_reason": "stop"}]}
        yield {"choices": [], "model": "gpt-4o-2024-08-06",
               "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}}

    chunks = list(stream())
    assert len(chunks) == 3
    span = tel.span("chat gpt-4o")
    a = span.attributes or {}
    assert a["gen_ai.request.stream"] is True
    assert a["gen_ai.usage.input_tokens"] == 10
    assert a["gen_ai.usage.output_tokens"] == 2
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert 0 <= a["gen_ai.response.time_to_first_chunk"] <= (span.end_time - span.start_time) / 1e9
    assert tel.sample("agentwatch_llm_time_to_first_token_seconds_count", provider="openai",
                      model="gpt-4o") == 1


def test_generator_closed_early_ends_span(tel: Captured) -> None:
    closed: list[bool] = []

    @agentwatch.track_inference(provider="openai", model="gpt-4o")
    def stream() -> Any:
        try:
            yield from range(10)
        finally:
            closed.append(True)

    g = stream()
    assert next(g) == 0
    assert next(g) == 1
    g.close()
    assert closed == [True]
    span = tel.span("chat gpt-4o")
    assert span.end_time is not None
    assert (span.attributes or {})["agentwatch.usage.reported"] is False


def test_generator_send_and_throw_are_forwarded(tel: Captured) -> None:
    @agentwatch.stage("echo")
    def echo() -> Any:
        received = []
        while True:
            try:
                value = yield len(received)
            except KeyError:
                received.append("thrown")
                continue
            if value is None:
                return received
            received.append(value)

    g = echo()
    assert next(g) == 0
    assert g.send("a") == 1
    assert g.throw(KeyError("k")) == 2
    with pytest.raises(StopIteration) as stop:
        g.send(None)
    assert stop.value.value == ["a", "thrown"]
    assert (tel.span("echo").attributes or {})["agentwatch.stage.outcome"] == "ok"


async def test_async_generator_stream_and_error(tel: Captured) -> None:
    @agentwatch.track_inference(provider="openai", model="gpt-4o")
    async def stream(fail: bool) -> Any:
        yield {"choices": [{"delta": {"content": "a"}}]}
        if fail:
            raise ConnectionError("cut")
        yield {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3}}

    got = [c async for c in stream(False)]
    assert len(got) == 2
    with pytest.raises(ConnectionError):
        async for _ in stream(True):
            pass
    spans = tel.spans_named("chat gpt-4o")
    assert [s.status.status_code for s in spans] == [StatusCode.UNSET, StatusCode.ERROR]
    assert (spans[0].attributes or {})["gen_ai.usage.input_tokens"] == 7
    assert (spans[1].attributes or {})["error.type"] == "ConnectionError"


async def test_async_generator_closed_early(tel: Captured) -> None:
    @agentwatch.track_inference(provider="openai", model="gpt-4o")
    async def stream() -> Any:
        for i in range(5):
            yield i

    agen = stream()
    assert await agen.__anext__() == 0
    await agen.aclose()
    assert len(tel.spans_named("chat gpt-4o")) == 1


def test_nesting_stage_tool_and_user_span(tel: Captured) -> None:
    tracer = tel.telemetry.tracer_provider.get_tracer("app")

    @agentwatch.track_tool("search_jobs")
    def search(q: str) -> list[str]:
        with tracer.start_as_current_span("user.work"):
            return [q]

    @agentwatch.stage("analyze_job")
    def analyze() -> list[str]:
        return search("python")

    assert analyze() == ["python"]
    stage = tel.span("analyze_job")
    tool = tel.span("execute_tool search_jobs")
    user = tel.span("user.work")
    assert tool.parent is not None and tool.parent.span_id == stage.context.span_id
    assert user.parent is not None and user.parent.span_id == tool.context.span_id
    assert (tool.attributes or {})["gen_ai.tool.name"] == "search_jobs"
    assert tel.sample("agentwatch_tool_calls_total", tool="search_jobs", outcome="ok") == 1
    assert tel.sample("agentwatch_tool_duration_seconds_count", tool="search_jobs") == 1


def test_call_inside_user_span_nests_under_it(tel: Captured) -> None:
    tracer = tel.telemetry.tracer_provider.get_tracer("app")

    @agentwatch.track_inference(provider="openai", model="gpt-4o")
    def ask() -> dict[str, Any]:
        return chat_result()

    with agentwatch.stage("outer"), tracer.start_as_current_span("user.request"):
        ask()
    user = tel.span("user.request")
    chat = tel.span("chat gpt-4o")
    assert chat.parent is not None and chat.parent.span_id == user.context.span_id
    # the rollup still reaches the enclosing stage through the user's span
    assert (tel.span("outer").attributes or {})["agentwatch.rollup.llm_calls"] == 1


def test_nested_model_calls_are_one_span(tel: Captured) -> None:
    @agentwatch.track_inference(provider="openai", model="gpt-4o")
    def sdk_call() -> dict[str, Any]:
        return chat_result(prompt=50, completion=5)

    @agentwatch.track_inference(provider="openai", model="gpt-4o")
    def app_call() -> str:
        sdk_call()
        return "text only"

    with agentwatch.stage("s"):
        app_call()
    spans = tel.spans_named("chat gpt-4o")
    assert len(spans) == 1
    assert (spans[0].attributes or {})["gen_ai.usage.input_tokens"] == 50
    assert (tel.span("s").attributes or {})["agentwatch.rollup.llm_calls"] == 1


def test_stage_error_and_interrupted_outcomes(tel: Captured) -> None:
    with pytest.raises(ValueError), agentwatch.stage("bad"):
        raise ValueError("boom")
    with agentwatch.stage("paused") as call:
        call.set_outcome("interrupted")
    bad, paused = tel.span("bad"), tel.span("paused")
    assert (bad.attributes or {})["agentwatch.stage.outcome"] == "error"
    assert bad.status.status_code == StatusCode.ERROR
    assert (paused.attributes or {})["agentwatch.stage.outcome"] == "interrupted"
    assert paused.status.status_code != StatusCode.ERROR
    assert tel.sample("agentwatch_stage_runs_total", graph="", stage="bad", outcome="error") == 1
    assert tel.sample("agentwatch_stage_runs_total", graph="", stage="paused", outcome="interrupted") == 1


async def test_async_with_stage(tel: Captured) -> None:
    async with agentwatch.stage("a"):
        await asyncio.sleep(0)
    assert (tel.span("a").attributes or {})["agentwatch.stage.outcome"] == "ok"


def test_one_stage_object_used_from_many_threads(tel: Captured) -> None:
    from concurrent.futures import ThreadPoolExecutor

    shared = agentwatch.stage("shared")

    def work(i: int) -> int:
        with shared:
            return i

    with ThreadPoolExecutor(4) as pool:
        assert sorted(pool.map(work, range(50))) == list(range(50))
    assert len(tel.spans_named("shared")) == 50
    assert all(s.parent is None for s in tel.spans_named("shared"))


def test_vector_search_and_embedding(tel: Captured) -> None:
    @agentwatch.track_vector_search(db="pgvector", collection="jobs", top_k_arg="k")
    def search(query: str, k: int = 5) -> list[tuple[dict[str, Any], float]]:
        return [({"id": f"job-{i}"}, 0.9 - i / 10) for i in range(k)]

    @agentwatch.track_embedding(provider="openai", model="text-embedding-3-small")
    def embed(texts: list[str]) -> dict[str, Any]:
        return {"object": "list", "data": [], "model": "text-embedding-3-small",
                "usage": {"prompt_tokens": 1000, "total_tokens": 1000}}

    assert len(search("python", k=3)) == 3
    embed(["a"])
    r = tel.span("retrieval jobs")
    a = r.attributes or {}
    assert a["db.system.name"] == "pgvector"
    assert a["db.collection.name"] == "jobs"
    assert a["agentwatch.retrieval.top_k"] == 3
    assert a["agentwatch.retrieval.returned"] == 3
    assert a["agentwatch.retrieval.top_score"] == pytest.approx(0.9)
    assert '"job-0"' in str(a["gen_ai.retrieval.documents"])
    assert tel.sample("agentwatch_vector_search_results_sum", db="pgvector", collection="jobs") == 3
    e = tel.span("embeddings text-embedding-3-small").attributes or {}
    assert e["gen_ai.operation.name"] == "embeddings"
    assert e["gen_ai.usage.input_tokens"] == 1000
    # text-embedding-3-small: $0.02 / M tokens
    assert e["agentwatch.cost.usd"] == pytest.approx(1000 * 0.02 / 1e6, abs=1e-15)
    assert tel.sample("agentwatch_llm_calls_total", provider="openai", model="text-embedding-3-small",
                      operation="embeddings", outcome="ok") == 1


def test_context_values_on_spans_never_on_labels(tel: Captured) -> None:
    @agentwatch.track_inference(provider="openai", model="gpt-4o")
    def ask() -> dict[str, Any]:
        return chat_result()

    async def in_task() -> None:
        ask()

    with agentwatch.context(user_id="u1", session_id="s1", request_id="r1"):
        ask()
        asyncio.run(in_task())
    spans = tel.spans_named("chat gpt-4o")
    assert len(spans) == 2
    for s in spans:
        a = s.attributes or {}
        assert (a["user.id"], a["session.id"], a["agentwatch.request.id"]) == ("u1", "s1", "r1")
    from prometheus_client import generate_latest

    text = generate_latest(tel.registry).decode()
    assert "u1" not in text and "s1" not in text and "r1" not in text


def test_exemplars_carry_trace_id(tel: Captured) -> None:
    from prometheus_client.openmetrics.exposition import generate_latest as om_latest

    @agentwatch.track_inference(provider="openai", model="gpt-4o")
    def ask() -> dict[str, Any]:
        return chat_result()

    ask()
    trace_id = format(tel.span("chat gpt-4o").context.trace_id, "032x")
    text = om_latest(tel.registry).decode()
    assert f'trace_id="{trace_id}"' in text
