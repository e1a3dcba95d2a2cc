"""Fakes for testing instrumented graphs offline: a chat model that reports usage like a provider
does, and a retriever that returns scored documents.

``FakeChatModel`` answers from ``responses`` in turn (strings or ``AIMessage``) and reports
``usage_metadata``: what an ``AIMessage`` response carries, else ``input_tokens`` = the number of
whitespace-separated words in the prompt and ``output_tokens`` = the words in the answer, so a test
can compute the expected numbers independently. Streaming yields the answer word by word and a
final chunk with the usage (as OpenAI's ``stream_options={"include_usage": True}`` does).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, cast

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.callbacks.manager import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.base import LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, PrivateAttr


def prompt_words(messages: Sequence[BaseMessage]) -> int:
    """The fake's input token count for ``messages``."""
    return sum(len(str(m.content).split()) for m in messages)


class FakeChatModel(BaseChatModel):
    """A chat model with usage, model name and provider, for tests and benchmarks (no I/O)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    responses: list[Any] = ["ok"]
    model: str = "gpt-4o-mini"
    provider: str = "openai"
    cache_read_tokens: int = 0
    reasoning_tokens: int = 0
    _counter: Any = PrivateAttr(default_factory=itertools.count)

    @property
    def _llm_type(self) -> str:
        return "agentwatch-fake-chat"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(ls_provider=self.provider, ls_model_name=self.model, ls_model_type="chat")
        if stop:
            params["ls_stop"] = stop
        return params

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> FakeChatModel:
        return self

    def _next(self, messages: Sequence[BaseMessage]) -> AIMessage:
        item = self.responses[next(self._counter) % len(self.responses)]
        if isinstance(item, AIMessage):
            message = item.model_copy()
            if message.usage_metadata is not None:
                return message
            text = str(message.content)
        else:
            message = AIMessage(content=str(item))
            text = str(item)
        message.usage_metadata = self._usage(prompt_words(messages), len(text.split()))
        message.response_metadata = {"model_name": self.model, "finish_reason": "stop"}
        return message

    def _usage(self, inp: int, out: int) -> UsageMetadata:
        usage: dict[str, Any] = {"input_tokens": inp, "output_tokens": out, "total_tokens": inp + out}
        if self.cache_read_tokens:
            usage["input_token_details"] = {"cache_read": self.cache_read_tokens}
        if self.reasoning_tokens:
            usage["output_token_details"] = {"reasoning": self.reasoning_tokens}
        return cast(UsageMetadata, usage)  # (the details are optional; some versions type them required)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._next(messages))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._generate(messages, stop)

    def _chunks(self, messages: list[BaseMessage]) -> Iterator[ChatGenerationChunk]:
        message = self._next(messages)
        words = str(message.content).split()
        for i, word in enumerate(words):
            yield ChatGenerationChunk(message=AIMessageChunk(content=word if i == 0 else " " + word))
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata=message.usage_metadata,
                response_metadata=message.response_metadata,
                tool_call_chunks=[
                    tool_call_chunk(name=tc["name"], args="{}", id=tc.get("id"), index=i)
                    for i, tc in enumerate(message.tool_calls)
                ],
            )
        )

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for chunk in self._chunks(messages):
            if run_manager is not None and chunk.message.content:
                run_manager.on_llm_new_token(str(chunk.message.content), chunk=chunk)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in self._chunks(messages):
            if run_manager is not None and chunk.message.content:
                await run_manager.on_llm_new_token(str(chunk.message.content), chunk=chunk)
            yield chunk


class FakeRetriever(BaseRetriever):
    """Returns ``k`` documents with ids ``doc-0`` ... and decreasing scores in ``metadata["score"]``."""

    k: int = 3
    name: str | None = "fake_retriever"

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return [
            Document(id=f"doc-{i}", page_content=f"{query} #{i}", metadata={"score": round(0.9 - 0.1 * i, 2)})
            for i in range(self.k)
        ]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        return self._get_relevant_documents(query, run_manager=run_manager)  # type: ignore[arg-type]
