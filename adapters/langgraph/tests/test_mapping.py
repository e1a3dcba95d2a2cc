"""The pure translation layer: callback arguments and LangChain objects -> records and facts."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, Generation, LLMResult
from langgraph.types import Command, Send
from lg_helpers import attr, one
from opentelemetry import trace

from agentwatch import names
from agentwatch.call import Call
from agentwatch.records import Inference
from agentwatch.testing import Captured
from agentwatch_langgraph import CallbackHandler, _mapping


def _call() -> Call:
    return Call(Inference(provider="openai", model="m"), trace.INVALID_SPAN, None, 0)


@pytest.mark.parametrize(
    ("ls_provider", "serialized", "expected"),
    [
        ("openai", None, "openai"),
        ("anthropic", None, "anthropic"),
        ("azure", None, "azure.ai.openai"),
        ("google_genai", None, "gcp.gen_ai"),
        ("bedrock_converse", None, "aws.bedrock"),
        ("mistralai", None, "mistral_ai"),
        ("Ollama", None, "ollama"),
        (None, {"id": ["langchain", "chat_models", "langchain_anthropic", "ChatAnthropic"]}, "anthropic"),
        (None, {"id": ["somewhere", "Custom"]}, "unknown"),
        (None, None, "unknown"),
    ],
)
def test_provider_name(ls_provider: Any, serialized: Any, expected: str) -> None:
    assert _mapping.provider_name(ls_provider, serialized) == expected


def test_model_and_request_attributes() -> None:
    meta = {"ls_model_name": "gpt-4o", "ls_temperature": 0.2, "ls_max_tokens": 256, "ls_stop": ["\n"]}
    assert _mapping.model_name(meta, {"model": "other"}) == "gpt-4o"
    assert _mapping.model_name({}, {"model_name": "claude-sonnet-4"}) == "claude-sonnet-4"
    assert _mapping.model_name(None, None) == "unknown"
    assert _mapping.request_attributes(meta) == {
        names.GEN_AI_REQUEST_TEMPERATURE: 0.2,
        names.GEN_AI_REQUEST_MAX_TOKENS: 256,
        names.GEN_AI_REQUEST_STOP_SEQUENCES: ("\n",),
    }
    assert _mapping.request_attributes({"ls_temperature": True}) == {}
    record = _mapping.inference_record(None, {"ls_provider": "anthropic", **meta}, None)
    assert (record.provider, record.model, record.operation) == ("anthropic", "gpt-4o", "chat")


def test_read_chat_result_with_cache_and_reasoning() -> None:
    message = AIMessage(
        content="hi",
        id="msg_01ABC",
        usage_metadata={
            "input_tokens": 1200,
            "output_tokens": 300,
            "total_tokens": 1500,
            "input_token_details": {"cache_read": 1000, "cache_creation": 100},
            "output_token_details": {"reasoning": 120},
        },
        response_metadata={"model_name": "claude-sonnet-4-20250514", "stop_reason": "end_turn"},
        tool_calls=[{"name": "search", "args": {}, "id": "t1"}],
    )
    call = _call()
    _mapping.read_llm_result(call, LLMResult(generations=[[ChatGeneration(message=message)]]), "anthropic")
    assert call.usage is not None
    assert (call.usage.input_tokens, call.usage.output_tokens) == (1200, 300)
    assert (call.usage.cache_read_tokens, call.usage.cache_write_tokens, call.usage.reasoning_tokens) == (
        1000,
        100,
        120,
    )
    assert call.response_model == "claude-sonnet-4-20250514"
    assert call.finish_reasons == ("end_turn",)
    assert call.response_id == "msg_01ABC"
    assert call.tool_calls == ("search",)


def test_read_completion_result_from_llm_output() -> None:
    result = LLMResult(
        generations=[[Generation(text="ok", generation_info={"finish_reason": "length"})]],
        llm_output={
            "token_usage": {"prompt_tokens": 11, "completion_tokens": 7},
            "model_name": "gpt-3.5-turbo",
        },
    )
    call = _call()
    _mapping.read_llm_result(call, result, "openai")
    assert call.usage is not None and (call.usage.input_tokens, call.usage.output_tokens) == (11, 7)
    assert call.response_model == "gpt-3.5-turbo"
    assert call.finish_reasons == ("length",)


def test_run_generated_message_ids_are_not_response_ids() -> None:
    call = _call()
    message = AIMessage(content="x", id="lc_run--0199-abc")
    _mapping.read_llm_result(call, LLMResult(generations=[[ChatGeneration(message=message)]]), None)
    assert call.response_id is None
    assert call.usage is None  # nothing reported: no invented zeros


def test_routes() -> None:
    assert _mapping.route_targets("billing") == ["billing"]
    assert _mapping.route_targets(["a", Send("w", {}), Send("w", {})]) == ["a", "w", "w"]
    assert _mapping.route_targets(None) == []
    assert _mapping.command_targets(Command(goto="next")) == ["next"]
    assert _mapping.command_targets(Command(goto=[Send("w", 1), "x"])) == ["w", "x"]
    assert _mapping.command_targets(Command(update={"a": 1})) == []
    assert _mapping.command_targets({"goto": "nope"}) == []


def test_run_kinds_from_tags() -> None:
    node_meta = {"langgraph_node": "plan", "langgraph_step": 1}
    assert _mapping.is_node_run(["graph:step:1"], node_meta)
    assert not _mapping.is_node_run(["seq:step:1"], node_meta)
    assert not _mapping.is_node_run(["graph:step:1"], {})
    assert _mapping.is_writer_step(["seq:step:3"])
    assert not _mapping.is_writer_step(["seq:step:1"])
    assert not _mapping.is_writer_step(None)


def test_tool_and_retriever_records() -> None:
    tool = _mapping.tool_record({"name": "lookup", "description": "Find it."}, None, "call_9", {"q": 1})
    assert (tool.name, tool.call_id, tool.description, tool.arguments) == (
        "lookup",
        "call_9",
        "Find it.",
        {"q": 1},
    )
    search = _mapping.retriever_record(
        None, "kb", {"ls_retriever_name": "vectorstore", "ls_vector_store_provider": "PGVector"}, "q"
    )
    assert (search.db, search.collection, search.query) == ("pgvector", "kb", "q")
    assert _mapping.retriever_record(
        None, None, {"ls_vector_store_provider": "InMemoryVectorStore"}, None
    ).db == ("inmemory")
    assert _mapping.tool_failed(ToolMessage(content="boom", tool_call_id="1", status="error"))
    assert not _mapping.tool_failed("fine")


def test_documents_with_ids_and_scores() -> None:
    call = _call()
    docs = [Document(id="a", page_content="x", metadata={"score": 0.8}), Document(page_content="y")]
    _mapping.read_documents(call, docs)
    assert call.documents == (("a", 0.8), (None, None))
    assert call.returned == 2


def test_scores_lent_by_an_instrumented_store_are_kept() -> None:
    call = _call()
    call.set_documents([("a", 0.91), ("b", 0.72)])  # what the store's scored search lent the retriever
    _mapping.read_documents(call, [Document(id="a", page_content="x"), Document(id="b", page_content="y")])
    assert call.documents == (("a", 0.91), ("b", 0.72))
    assert call.returned == 2


class _Plain(BaseCallbackHandler):
    def __init__(self) -> None:
        self.events: list[str] = []

    def on_llm_start(self, *args: Any, **kwargs: Any) -> None:
        self.events.append("start")

    def on_llm_end(self, *args: Any, **kwargs: Any) -> None:
        self.events.append("end")


async def test_other_handlers_still_get_async_llm_starts(tel: Captured) -> None:
    # LangChain's AsyncCallbackManager.on_llm_start drops every non-inline handler's start as soon
    # as one handler is inline; ours must not cause that
    other = _Plain()
    llm = FakeListLLM(responses=["fine"])
    assert await llm.ainvoke("hello", config={"callbacks": [CallbackHandler(), other]}) == "fine"
    assert other.events == ["start", "end"]
    span = one(tel.spans, "text_completion unknown")
    assert attr(span, names.GEN_AI_OPERATION_NAME) == "text_completion"
    assert CallbackHandler().run_inline is True
