"""Reliability of the adapters: the LangGraph callback handler and the OpenAI / Anthropic client
wrappers, under malformed events, hostile provider answers, failing agentwatch parts and load.

The rule is the same as for the decorators: what the application gets is exactly what it would
get without agentwatch, and what agentwatch exports is always encodable.
"""

from __future__ import annotations

import asyncio
import json
import logging
import operator
import threading
import uuid
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Annotated, Any, TypedDict

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from agentwatch.records import Completed
from agentwatch.testing import Captured

ENCODER_LOGGER = "opentelemetry.exporter.otlp.proto.common._internal"


def exportable(tel: Captured) -> None:
    seen: list[logging.LogRecord] = []

    class Grab(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    logger = logging.getLogger(ENCODER_LOGGER)
    handler = Grab()
    logger.addHandler(handler)
    try:
        assert encode_spans(tel.spans).SerializeToString()
    finally:
        logger.removeHandler(handler)
    assert [r.getMessage() for r in seen] == []


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"k": [value]}
    return value


class BoomSink:
    def on_completed(self, completed: Completed) -> None:
        raise RuntimeError("sink broken")


def break_sinks_and_prices(tel: Captured) -> None:
    def broken_price(*args: Any) -> None:
        raise ArithmeticError("price data corrupt")

    recorder = tel.telemetry.recorder
    recorder.sinks = (BoomSink(), *recorder.sinks)
    recorder.price = broken_price


# === LangGraph callback handler ===================================================================
@pytest.fixture
def lg() -> Any:
    pytest.importorskip("langgraph")
    return pytest.importorskip("agentwatch_langgraph")


class State(TypedDict):
    question: str
    notes: Annotated[list[str], operator.add]


def _graph(llm: Any, retriever: Any, *, asynchronous: bool) -> Any:
    from langgraph.graph import END, START, StateGraph

    g: Any = StateGraph(State)
    if asynchronous:
        async def ask(s: State) -> dict[str, Any]:
            return {"notes": [(await llm.ainvoke(s["question"])).content]}

        async def look(s: State) -> dict[str, Any]:
            return {"notes": [d.page_content for d in await retriever.ainvoke(s["question"])]}
    else:
        def ask(s: State) -> dict[str, Any]:  # type: ignore[misc]
            return {"notes": [llm.invoke(s["question"]).content]}

        def look(s: State) -> dict[str, Any]:  # type: ignore[misc]
            return {"notes": [d.page_content for d in retriever.invoke(s["question"])]}

    g.add_node("ask", ask)
    g.add_node("look", look)
    g.add_edge(START, "ask")
    g.add_edge("ask", "look")
    g.add_edge("look", END)
    return g.compile(name="qa")


def _question(n: int) -> str:
    return " ".join(["word"] * (n % 40 + 1))  # the fake model counts words: n % 40 + 1 input tokens


def _check_per_trace_totals(tel: Captured, runs: int) -> None:
    workflows = [s for s in tel.spans if s.name == "invoke_workflow qa"]
    assert len(workflows) == runs
    by_trace: dict[int, list[Any]] = {}
    for s in tel.spans:
        by_trace.setdefault(s.context.trace_id, []).append(s)
    for wf in workflows:
        members = by_trace[wf.context.trace_id]
        [call] = [s for s in members if s.name.startswith("chat ")]
        a, c = wf.attributes or {}, call.attributes or {}
        assert a["agentwatch.rollup.input_tokens"] == c["gen_ai.usage.input_tokens"]
        assert a["agentwatch.rollup.output_tokens"] == c["gen_ai.usage.output_tokens"] == 3
        assert a["agentwatch.rollup.llm_calls"] == 1
        assert len(members) == 5  # workflow, 2 nodes, model call, retrieval


def test_langgraph_1000_concurrent_ainvokes_share_one_handler(lg: Any, tel: Captured) -> None:
    from agentwatch_langgraph.testing import FakeChatModel, FakeRetriever

    graph = _graph(FakeChatModel(responses=["alpha beta gamma"]), FakeRetriever(k=2), asynchronous=True)
    handler = lg.CallbackHandler()

    async def main() -> list[Any]:
        return await asyncio.gather(*(graph.ainvoke({"question": _question(n), "notes": []},
                                                    config={"callbacks": [handler]}) for n in range(1000)))

    outputs = asyncio.run(main())
    assert all(o["notes"][0] == "alpha beta gamma" for o in outputs)
    _check_per_trace_totals(tel, 1000)
    expected_input = sum(n % 40 + 1 for n in range(1000))
    assert tel.sample("agentwatch_llm_tokens_total", provider="openai", model="gpt-4o-mini",
                      operation="chat", type="input") == expected_input
    assert handler.open_runs == 0


def test_langgraph_32_thread_pool_shares_one_handler(lg: Any, tel: Captured) -> None:
    from agentwatch_langgraph.testing import FakeChatModel, FakeRetriever

    graph = _graph(FakeChatModel(responses=["alpha beta gamma"]), FakeRetriever(k=2), asynchronous=False)
    handler = lg.CallbackHandler()
    with ThreadPoolExecutor(32) as pool:
        outputs = list(pool.map(lambda n: graph.invoke({"question": _question(n), "notes": []},
                                                       config={"callbacks": [handler]}), range(320)))
    assert len(outputs) == 320
    _check_per_trace_totals(tel, 320)
    assert tel.sample("agentwatch_stage_runs_total", graph="qa", stage="ask", outcome="ok") == 320
    assert handler.open_runs == 0


def test_langgraph_run_with_broken_sink_and_price_book_gives_the_same_output(lg: Any, tel: Captured) -> None:
    from agentwatch_langgraph.testing import FakeChatModel, FakeRetriever

    graph = _graph(FakeChatModel(responses=["alpha beta gamma"]), FakeRetriever(k=2), asynchronous=False)
    plain = graph.invoke({"question": "what now", "notes": []})
    break_sinks_and_prices(tel)
    traced = graph.invoke({"question": "what now", "notes": []}, config={"callbacks": [lg.CallbackHandler()]})
    assert traced == plain
    assert len(tel.spans) == 5
    assert tel.sample("agentwatch_internal_errors_total", component="sink.BoomSink") == 5
    assert tel.sample("agentwatch_internal_errors_total", component="pricing") == 1


def test_langgraph_malformed_callback_events(lg: Any, tel: Captured) -> None:
    from langchain_core.messages import AIMessage, HumanMessage
    from langchain_core.outputs import ChatGeneration, LLMResult

    handler = lg.CallbackHandler()
    rid = uuid.uuid4
    start = rid()
    hostile_usage: list[Any] = [
        {"input_tokens": "ten", "output_tokens": 3, "total_tokens": 3},
        {"input_tokens": float("nan"), "output_tokens": -4, "total_tokens": 0},
        {"input_tokens": 10**30, "output_tokens": 2**70, "total_tokens": 1},
        {"input_tokens": 1, "output_tokens": 1, "input_token_details": {"cache_read": [1, 2]}},
        nested(500),
    ]

    def message(usage: Any, name: Any = "gpt-4o\udcff") -> AIMessage:
        msg = AIMessage.model_construct(content="ok \udcff", usage_metadata=usage,
                                        response_metadata={"model_name": name, "finish_reason": nested(50)},
                                        id="x\ud800", tool_calls=[], invalid_tool_calls=[])
        return msg

    events: list[Any] = [
        # ends without a start
        lambda: handler.on_chain_end({}, run_id=rid()),
        lambda: handler.on_chain_error(ValueError("x"), run_id=rid()),
        lambda: handler.on_llm_end(LLMResult(generations=[]), run_id=rid()),
        lambda: handler.on_llm_error(RuntimeError("x"), run_id=rid()),
        lambda: handler.on_tool_end("x", run_id=rid()),
        lambda: handler.on_tool_error(RuntimeError("x"), run_id=rid()),
        lambda: handler.on_retriever_end([], run_id=rid()),
        lambda: handler.on_retriever_error(RuntimeError("x"), run_id=rid()),
        lambda: handler.on_llm_new_token("t", run_id=rid()),
        # a start twice, then ends twice
        lambda: handler.on_chain_start({"name": "g"}, {"q": 1}, run_id=start, parent_run_id=None),
        lambda: handler.on_chain_start({"name": "g"}, {"q": 1}, run_id=start, parent_run_id=None),
        lambda: handler.on_chain_end({}, run_id=start),
        lambda: handler.on_chain_end({}, run_id=start),
        # missing / wrong run ids
        lambda: handler.on_chain_start({"name": "g"}, {}, run_id=None),
        lambda: handler.on_chain_start({"name": "g"}, {}, run_id="not-a-uuid", parent_run_id=12),
        lambda: handler.on_chat_model_start({"name": "m"}, [[HumanMessage("hi")]], run_id=rid(),
                                            parent_run_id=rid()),
        # hostile names, inputs and metadata
        lambda: handler.on_chain_start({"name": "n\udcff" * 1000, "id": nested(100)}, nested(5000),
                                       run_id=rid(), metadata={"langgraph_node": b"\xff", "langgraph_step": "x"}),
        lambda: handler.on_chain_start(None, None, run_id=rid(), tags=[None, 5], metadata=nested(100)),
        lambda: handler.on_tool_start({"name": None}, "x" * 5_000_000, run_id=rid(), inputs=nested(1000)),
        lambda: handler.on_retriever_start({}, "\udcff", run_id=rid()),
    ]
    # model calls with hostile usage, through a start and an end
    for usage in hostile_usage:
        run = rid()
        events.append(lambda run=run: handler.on_chat_model_start(
            {"name": "ChatX", "kwargs": {"model": nested(10)}}, [[HumanMessage("hi")]], run_id=run,
            invocation_params={"model": "gpt-4o", "temperature": "hot", "max_tokens": float("nan")}))
        events.append(lambda run=run, usage=usage: handler.on_llm_end(
            LLMResult(generations=[[ChatGeneration.model_construct(message=message(usage), text="ok")]],
                      llm_output={"token_usage": usage, "model_name": ["x"]}), run_id=run))
    for event in events:
        event()  # none of these may raise
    handler.close()
    assert handler.open_runs == 0
    exportable(tel)
    for span in tel.spans:
        for key, value in (span.attributes or {}).items():
            if isinstance(value, int) and not isinstance(value, bool):
                assert -(2**63) <= value < 2**63, key


# === OpenAI and Anthropic client wrappers =========================================================
class Crafted:
    """A stdlib HTTP server on 127.0.0.1 answering every POST with the next canned raw body."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, bytes]] = []
        crafted = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                kind, body = crafted.bodies.pop(0) if crafted.bodies else ("json", b"{}")
                self.send_response(200)
                if kind == "sse":
                    self.send_header("Content-Type", "text/event-stream")
                else:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, kind: str, body: str) -> None:
        self.bodies.append((kind, body.encode()))

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def crafted() -> Iterator[Crafted]:
    server = Crafted()
    yield server
    server.stop()


# Raw JSON text: NaN literals, lone-surrogate escapes, wrong types, huge and negative numbers.
OPENAI_BODIES = [
    '{"id":"c1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":'
    '{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":-5,'
    '"completion_tokens":1e30,"total_tokens":"many","prompt_tokens_details":{"cached_tokens":NaN}}}',
    '{"id":"c\\udcff","object":"chat.completion","created":1,"model":"gpt-4o\\ud800","choices":[{"index":0,'
    '"message":{"role":"assistant","content":"\\udcff"},"finish_reason":"st\\udc80op"}],'
    '"usage":{"prompt_tokens":99999999999999999999999,"completion_tokens":Infinity}}',
    '{"id":5,"object":"chat.completion","created":"x","model":["m"],"choices":"none","usage":[1,2,3]}',
    '{"id":"c3","object":"chat.completion","created":1,"model":"gpt-4o","choices":[],"usage":'
    + json.dumps({"prompt_tokens": 3, "completion_tokens": 1, "prompt_tokens_details": nested(300)}) + "}",
]
OPENAI_STREAM = (
    'data: {"id":"s1","object":"chat.completion.chunk","created":1,"model":"gpt-4o\\udcff","choices":'
    '[{"index":0,"delta":{"role":"assistant","content":"he"},"finish_reason":null}]}\n\n'
    'data: {"id":"s1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":'
    '[{"index":0,"delta":{"content":"llo"},"finish_reason":"stop"}]}\n\n'
    'data: {"id":"s1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[],'
    '"usage":{"prompt_tokens":NaN,"completion_tokens":-1,"total_tokens":1e99}}\n\n'
    "data: [DONE]\n\n"
)
OPENAI_STREAM_NO_USAGE = (
    'data: {"id":"s2","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":'
    '[{"index":0,"delta":{"role":"assistant","content":"hello there"},"finish_reason":"stop"}]}\n\n'
    "data: [DONE]\n\n"
)
ANTHROPIC_BODIES = [
    '{"id":"m1","type":"message","role":"assistant","model":"claude-haiku-4-5","content":[{"type":"text",'
    '"text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":-1,"output_tokens":"x",'
    '"cache_read_input_tokens":NaN,"cache_creation_input_tokens":1e40}}',
    '{"id":"m\\udcff","type":"message","role":"assistant","model":"claude\\ud800","content":[{"type":"text",'
    '"text":"\\udcff"}],"stop_reason":5,"usage":{"input_tokens":99999999999999999999999,"output_tokens":1,'
    '"cache_creation":{"ephemeral_5m_input_tokens":-3,"ephemeral_1h_input_tokens":"y"}}}',
    '{"id":"m3","type":"message","role":"assistant","model":"claude-haiku-4-5","content":"nope","usage":null}',
]


def _sse(events: list[tuple[str, dict[str, Any] | str]]) -> str:
    out = []
    for name, data in events:
        out.append(f"event: {name}\ndata: {data if isinstance(data, str) else json.dumps(data)}\n\n")
    return "".join(out)


ANTHROPIC_STREAM_NO_DELTA = _sse([
    ("message_start", {"type": "message_start", "message": {
        "id": "m4", "type": "message", "role": "assistant", "model": "claude-haiku-4-5", "content": [],
        "stop_reason": None, "usage": {"input_tokens": 12, "output_tokens": 1}}}),
    ("content_block_start", {"type": "content_block_start", "index": 0,
                             "content_block": {"type": "text", "text": ""}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0,
                             "delta": {"type": "text_delta", "text": "hello there"}}),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ("message_stop", {"type": "message_stop"}),
])
ANTHROPIC_STREAM_HOSTILE = _sse([
    ("message_start", '{"type":"message_start","message":{"id":"m5","type":"message","role":"assistant",'
                      '"model":"claude\\udcff","content":[],"stop_reason":null,"usage":{"input_tokens":NaN,'
                      '"output_tokens":-1}}}'),
    ("content_block_start", {"type": "content_block_start", "index": 0,
                             "content_block": {"type": "text", "text": ""}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0,
                             "delta": {"type": "text_delta", "text": "hi"}}),
    ("message_delta", '{"type":"message_delta","delta":{"stop_reason":"end_turn"},'
                      '"usage":{"output_tokens":1e40}}'),
    ("message_stop", {"type": "message_stop"}),
])


def _openai_pair(crafted: Crafted) -> tuple[Any, Any]:
    openai = pytest.importorskip("openai")
    instrumented = pytest.importorskip("agentwatch_openai").instrument(
        openai.OpenAI(base_url=crafted.url + "/v1", api_key="sk-test", max_retries=0))
    plain = openai.OpenAI(base_url=crafted.url + "/v1", api_key="sk-test", max_retries=0)
    return plain, instrumented


def _anthropic_pair(crafted: Crafted) -> tuple[Any, Any]:
    anthropic = pytest.importorskip("anthropic")
    options = {"open_telemetry": {"traces": False, "propagation": False}}
    try:
        plain = anthropic.Anthropic(base_url=crafted.url, api_key="sk-ant-test", max_retries=0, **options)
        wrapped = anthropic.Anthropic(base_url=crafted.url, api_key="sk-ant-test", max_retries=0, **options)
    except TypeError:  # an SDK without its own OTel switch
        plain = anthropic.Anthropic(base_url=crafted.url, api_key="sk-ant-test", max_retries=0)
        wrapped = anthropic.Anthropic(base_url=crafted.url, api_key="sk-ant-test", max_retries=0)
    return plain, pytest.importorskip("agentwatch_anthropic").instrument(wrapped)


def _same(a: Any, b: Any) -> bool:
    with warnings.catch_warnings():  # the SDK's models hold the hostile values as sent: pydantic warns
        warnings.simplefilter("ignore")
        return repr(a.model_dump() if hasattr(a, "model_dump") else a) == repr(
            b.model_dump() if hasattr(b, "model_dump") else b)


CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}]}
MESSAGES = {"model": "claude-haiku-4-5", "max_tokens": 50, "messages": [{"role": "user", "content": "hello"}]}


@pytest.mark.parametrize("body", OPENAI_BODIES, ids=range(len(OPENAI_BODIES)))
def test_openai_hostile_answers_reach_the_app_unchanged(crafted: Crafted, tel: Captured, body: str) -> None:
    plain, instrumented = _openai_pair(crafted)
    crafted.answer("json", body)
    crafted.answer("json", body)
    expected = plain.chat.completions.create(**CHAT)
    got = instrumented.chat.completions.create(**CHAT)
    assert _same(got, expected)
    assert [s.name for s in tel.spans] == ["chat gpt-4o"]
    exportable(tel)


def test_openai_hostile_stream_reaches_the_app_unchanged(crafted: Crafted, tel: Captured) -> None:
    plain, instrumented = _openai_pair(crafted)
    crafted.answer("sse", OPENAI_STREAM)
    crafted.answer("sse", OPENAI_STREAM)
    expected = list(plain.chat.completions.create(**CHAT, stream=True))
    got = list(instrumented.chat.completions.create(**CHAT, stream=True))
    assert len(got) == len(expected) == 3
    assert all(_same(g, e) for g, e in zip(got, expected, strict=True))
    assert len(tel.spans) == 1
    exportable(tel)


@pytest.mark.parametrize("body", ANTHROPIC_BODIES, ids=range(len(ANTHROPIC_BODIES)))
def test_anthropic_hostile_answers_reach_the_app_unchanged(crafted: Crafted, tel: Captured, body: str) -> None:
    plain, instrumented = _anthropic_pair(crafted)
    crafted.answer("json", body)
    crafted.answer("json", body)
    expected = plain.messages.create(**MESSAGES)
    got = instrumented.messages.create(**MESSAGES)
    assert _same(got, expected)
    assert len(tel.spans) == 1
    exportable(tel)


def test_anthropic_hostile_stream_reaches_the_app_unchanged(crafted: Crafted, tel: Captured) -> None:
    plain, instrumented = _anthropic_pair(crafted)
    crafted.answer("sse", ANTHROPIC_STREAM_HOSTILE)
    crafted.answer("sse", ANTHROPIC_STREAM_HOSTILE)
    expected = list(plain.messages.create(**MESSAGES, stream=True))
    got = list(instrumented.messages.create(**MESSAGES, stream=True))
    assert len(got) == len(expected) == 5
    assert all(_same(g, e) for g, e in zip(got, expected, strict=True))
    assert len(tel.spans) == 1
    exportable(tel)


def test_raising_tokenizer_while_estimating_a_stream(crafted: Crafted, tel: Captured,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from agentwatch import tokens

    def broken(*args: Any, **kwargs: Any) -> int:
        raise MemoryError("tokenizer blew up")

    monkeypatch.setattr(tokens, "count_tokens", broken)
    plain_oa, wrapped_oa = _openai_pair(crafted)
    plain_an, wrapped_an = _anthropic_pair(crafted)
    for _ in range(2):
        crafted.answer("sse", OPENAI_STREAM_NO_USAGE)
    expected = [c.choices[0].delta.content for c in plain_oa.chat.completions.create(**CHAT, stream=True)]
    got = [c.choices[0].delta.content for c in wrapped_oa.chat.completions.create(**CHAT, stream=True)]
    assert got == expected == ["hello there"]
    for _ in range(2):
        crafted.answer("sse", ANTHROPIC_STREAM_NO_DELTA)
    expected_events = [e.type for e in plain_an.messages.create(**MESSAGES, stream=True)]
    got_events = [e.type for e in wrapped_an.messages.create(**MESSAGES, stream=True)]
    assert got_events == expected_events
    assert len(tel.spans) == 2
    exportable(tel)
    errors_total = sum(s.value for m in tel.registry.collect() if m.name == "agentwatch_internal_errors"
                       for s in m.samples if s.name.endswith("_total"))
    assert errors_total >= 2  # each failed estimate counted, none raised


def test_clients_with_broken_sink_and_price_book(tel: Captured) -> None:
    openai = pytest.importorskip("openai")
    anthropic = pytest.importorskip("anthropic")
    aw_openai = pytest.importorskip("agentwatch_openai")
    aw_anthropic = pytest.importorskip("agentwatch_anthropic")
    from agentwatch.fake_provider import FakeProvider

    with FakeProvider(seed=7) as fp:
        oa_plain = openai.OpenAI(base_url=fp.openai_base_url, api_key="sk-test-1", max_retries=0)
        oa = aw_openai.instrument(openai.OpenAI(base_url=fp.openai_base_url, api_key="sk-test-1", max_retries=0))
        an_plain = anthropic.Anthropic(base_url=fp.anthropic_base_url, api_key="sk-ant-test-1", max_retries=0)
        an = aw_anthropic.instrument(
            anthropic.Anthropic(base_url=fp.anthropic_base_url, api_key="sk-ant-test-1", max_retries=0))
        break_sinks_and_prices(tel)
        expected = oa_plain.chat.completions.create(**{**CHAT, "model": "gpt-4o-mini"})
        got = oa.chat.completions.create(**{**CHAT, "model": "gpt-4o-mini"})
        assert got.choices[0].message.content == expected.choices[0].message.content
        assert got.usage is not None and expected.usage is not None
        assert got.usage.prompt_tokens == expected.usage.prompt_tokens
        expected_msg = an_plain.messages.create(**MESSAGES)
        got_msg = an.messages.create(**MESSAGES)
        assert got_msg.content[0].text == expected_msg.content[0].text  # type: ignore[union-attr]
        assert got_msg.usage.output_tokens == expected_msg.usage.output_tokens
    assert len(tel.spans) == 2
    assert tel.sample("agentwatch_internal_errors_total", component="sink.BoomSink") == 2
    assert tel.sample("agentwatch_internal_errors_total", component="pricing") == 2
