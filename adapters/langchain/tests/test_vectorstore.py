"""instrument_vectorstore on LangChain's InMemoryVectorStore: spans, ids, scores, metrics."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.vectorstores import InMemoryVectorStore
from opentelemetry.trace import StatusCode

from agentwatch import errors
from agentwatch.testing import Captured
from agentwatch_langchain import instrument_embeddings, instrument_vectorstore, uninstrument

from .lc_helpers import ScoredMemoryStore, WordHashEmbeddings, cosine_ranking, job_documents

QUERY = "python engineer in berlin"
SPAN = "retrieval InMemoryVectorStore"
LABELS = {"db": "inmemory", "collection": "InMemoryVectorStore"}


def make_store() -> tuple[InMemoryVectorStore, WordHashEmbeddings, list[Document]]:
    emb = WordHashEmbeddings()
    docs = job_documents()
    store = InMemoryVectorStore(emb)
    store.add_documents(docs)
    return instrument_vectorstore(store), emb, docs


def attrs(tel: Captured, name: str = SPAN) -> dict[str, Any]:
    return dict(tel.span(name).attributes or {})


def documents(a: dict[str, Any]) -> list[tuple[str, float | None]]:
    return [(d["id"], d["score"]) for d in json.loads(str(a["gen_ai.retrieval.documents"]))]


def test_similarity_search_with_score(tel: Captured) -> None:
    store, emb, docs = make_store()
    hits = store.similarity_search_with_score(QUERY, k=3)

    truth = cosine_ranking(emb, QUERY, docs)[:3]
    assert [d.id for d, _ in hits] == [i for i, _ in truth]
    a = attrs(tel)
    assert a["gen_ai.operation.name"] == "retrieval"
    assert a["db.system.name"] == "inmemory"
    assert a["db.collection.name"] == "InMemoryVectorStore"
    assert a["db.operation.name"] == "similarity_search_with_score"
    assert a["agentwatch.retrieval.top_k"] == 3
    assert a["agentwatch.retrieval.returned"] == 3
    assert a["agentwatch.retrieval.top_score"] == pytest.approx(truth[0][1], abs=1e-9)
    assert [i for i, _ in documents(a)] == [i for i, _ in truth]
    assert [s for _, s in documents(a)] == pytest.approx([s for _, s in truth], abs=1e-9)
    assert "gen_ai.retrieval.query.text" not in a
    assert "python" not in str(a["gen_ai.retrieval.documents"])  # ids and scores, no text
    assert tel.sample("agentwatch_vector_search_duration_seconds_count", **LABELS) == 1
    assert tel.sample("agentwatch_vector_search_results_sum", **LABELS) == 3


def test_similarity_search_is_one_span_with_the_scores(tel: Captured) -> None:
    store, emb, docs = make_store()
    found = store.similarity_search(QUERY)  # calls similarity_search_with_score inside, default k=4

    truth = cosine_ranking(emb, QUERY, docs)[:4]
    assert [d.id for d in found] == [i for i, _ in truth]
    assert len(tel.spans_named(SPAN)) == 1
    a = attrs(tel)
    assert a["db.operation.name"] == "similarity_search"
    assert a["agentwatch.retrieval.top_k"] == 4
    assert [s for _, s in documents(a)] == pytest.approx([s for _, s in truth], abs=1e-9)
    assert tel.sample("agentwatch_vector_search_results_count", **LABELS) == 1


def test_by_vector_relevance_and_mmr(tel: Captured) -> None:
    store, emb, docs = make_store()
    truth = cosine_ranking(emb, QUERY, docs)

    by_vector = store.similarity_search_by_vector(emb.embed_query(QUERY), k=2)
    assert [d.id for d in by_vector] == [i for i, _ in truth[:2]]
    mmr = store.max_marginal_relevance_search(QUERY, k=3, fetch_k=10)
    assert len(mmr) == 3
    assert {d.id for d in mmr} <= {i for i, _ in truth[:10]}
    scored = instrument_vectorstore(ScoredMemoryStore(emb))
    scored.add_documents(docs)
    relevance = scored.similarity_search_with_relevance_scores(QUERY, k=5)
    assert [d.id for d, _ in relevance] == [i for i, _ in truth[:5]]

    spans = {str((s.attributes or {})["db.operation.name"]): dict(s.attributes or {})
             for s in tel.spans_named(SPAN)}
    assert sorted(spans) == ["max_marginal_relevance_search", "similarity_search_by_vector"]
    by_vector_attrs = spans["similarity_search_by_vector"]
    assert by_vector_attrs["agentwatch.retrieval.top_score"] == pytest.approx(truth[0][1])
    mmr_attrs = spans["max_marginal_relevance_search"]
    assert mmr_attrs["agentwatch.retrieval.top_k"] == 3
    assert [i for i, _ in documents(mmr_attrs)] == [str(d.id) for d in mmr]
    assert "agentwatch.retrieval.top_score" not in mmr_attrs  # MMR returns no scores
    assert tel.sample("agentwatch_vector_search_results_sum", **LABELS) == 2 + 3
    rel = attrs(tel, "retrieval ScoredMemoryStore")
    assert rel["db.system.name"] == "scoredmemorystore"
    assert rel["db.operation.name"] == "similarity_search_with_relevance_scores"
    assert rel["agentwatch.retrieval.returned"] == 5
    assert [s for _, s in documents(rel)] == pytest.approx([s for _, s in truth[:5]], abs=1e-9)


def test_async_searches(tel: Captured) -> None:
    store, emb, docs = make_store()

    async def run() -> tuple[list[Document], list[Document]]:
        sim = await store.asimilarity_search(QUERY, k=2)
        return sim, await store.amax_marginal_relevance_search(QUERY, k=2)

    sim, mmr = asyncio.run(run())
    truth = cosine_ranking(emb, QUERY, docs)
    assert [d.id for d in sim] == [i for i, _ in truth[:2]]
    ops = sorted((s.attributes or {})["db.operation.name"] for s in tel.spans_named(SPAN))
    assert ops == ["max_marginal_relevance_search", "similarity_search"]
    first = min(tel.spans_named(SPAN), key=lambda s: s.start_time or 0)
    assert (first.attributes or {})["agentwatch.retrieval.top_score"] == pytest.approx(truth[0][1])
    assert len(mmr) == 2


def test_retrievers(tel: Captured) -> None:
    emb = WordHashEmbeddings()
    docs = job_documents()
    store = ScoredMemoryStore(emb)
    store.add_documents(docs)
    made_before = store.as_retriever(search_kwargs={"k": 2})  # before instrumenting: still traced
    instrument_vectorstore(store)
    mmr = store.as_retriever(search_type="mmr", search_kwargs={"k": 3, "fetch_k": 8})
    threshold = store.as_retriever(search_type="similarity_score_threshold",
                                   search_kwargs={"k": 6, "score_threshold": 0.3})
    truth = cosine_ranking(emb, QUERY, docs)

    assert [d.id for d in made_before.invoke(QUERY)] == [i for i, _ in truth[:2]]
    assert len(mmr.invoke(QUERY)) == 3
    above = threshold.invoke(QUERY)
    assert [d.id for d in above] == [i for i, s in truth[:6] if s >= 0.3]
    assert asyncio.run(mmr.ainvoke(QUERY)) == mmr.invoke(QUERY)

    spans = sorted(tel.spans_named("retrieval ScoredMemoryStore"), key=lambda s: s.start_time or 0)
    assert len(spans) == 5  # one per search, whatever calls what inside
    first, second, third = (dict(s.attributes or {}) for s in spans[:3])
    assert first["db.operation.name"] == "similarity_search"
    assert first["agentwatch.retrieval.top_k"] == 2
    assert first["agentwatch.retrieval.top_score"] == pytest.approx(truth[0][1])
    assert second["db.operation.name"] == "max_marginal_relevance_search"
    assert second["agentwatch.retrieval.search_type"] == "mmr"
    assert second["agentwatch.retrieval.top_k"] == 3
    assert third["db.operation.name"] == "similarity_search_with_relevance_scores"
    assert third["agentwatch.retrieval.search_type"] == "similarity_score_threshold"
    assert third["agentwatch.retrieval.returned"] == len(above)
    assert third["agentwatch.retrieval.top_score"] == pytest.approx(truth[0][1])


def test_embeddings_span_under_the_search(tel: Captured) -> None:
    emb = instrument_embeddings(WordHashEmbeddings())
    store = InMemoryVectorStore(emb)
    store.add_documents(job_documents())
    tel.clear()
    instrument_vectorstore(store).similarity_search(QUERY, k=1)

    search = tel.span(SPAN)
    embed = tel.span("embeddings word-hash-32")
    assert embed.parent is not None and embed.parent.span_id == search.context.span_id
    assert (embed.attributes or {})["gen_ai.embeddings.dimension.count"] == 32


def test_a_failing_search_raises_unchanged(tel: Captured) -> None:
    emb = WordHashEmbeddings()
    store = instrument_vectorstore(InMemoryVectorStore(emb))
    store.add_documents(job_documents())
    boom = ValueError("bad filter")

    def bad_filter(doc: Document) -> bool:
        raise boom

    with pytest.raises(ValueError) as caught:
        store.similarity_search(QUERY, k=2, filter=bad_filter)
    assert caught.value is boom
    span = tel.span(SPAN)
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "ValueError"
    assert errors.counts() == {}


def test_idempotent_uninstrument_and_odd_objects(tel: Captured) -> None:
    store, _, _ = make_store()
    method = store.similarity_search
    assert instrument_vectorstore(store) is store
    assert store.similarity_search is method  # not wrapped twice
    uninstrument(store)
    assert "similarity_search" not in vars(store)
    store.similarity_search(QUERY, k=1)
    assert tel.spans_named(SPAN) == []

    class Slotted:
        __slots__ = ()

    odd = Slotted()
    assert instrument_vectorstore(odd) is odd  # cannot be instrumented: counted, never raised
    assert errors.counts() == {"langchain": 1}


def test_overrides_and_before_configure() -> None:
    store = InMemoryVectorStore(WordHashEmbeddings())
    store.add_documents(job_documents())
    instrument_vectorstore(store, db="memory", collection="jobs", server_address="vectors.internal",
                           server_port=6333)
    assert len(store.similarity_search(QUERY, k=2)) == 2  # not configured: runs, records nothing

    from agentwatch.testing import capture

    with capture() as tel:
        store.similarity_search(QUERY, k=2)
        a = dict(tel.span("retrieval jobs").attributes or {})
    where = (a["db.system.name"], a["server.address"], a["server.port"])
    assert where == ("memory", "vectors.internal", 6333)


def test_faiss(tel: Captured) -> None:
    pytest.importorskip("faiss")
    vectorstores = pytest.importorskip("langchain_community.vectorstores")
    emb = WordHashEmbeddings()
    docs = job_documents()
    store = instrument_vectorstore(vectorstores.FAISS.from_documents(docs, emb))
    hits = store.similarity_search_with_score(QUERY, k=3)

    # FAISS's flat L2 index scores by squared Euclidean distance, smallest first: computed here
    q = emb._vector(QUERY)

    def squared_l2(doc: Document) -> float:
        return sum((a - b) ** 2 for a, b in zip(q, emb._vector(doc.page_content), strict=True))

    truth = sorted(((str(d.id), squared_l2(d)) for d in docs), key=lambda pair: pair[1])[:3]
    assert [d.id for d, _ in hits] == [i for i, _ in truth]
    a = attrs(tel, "retrieval FAISS")
    assert a["db.system.name"] == "faiss"
    assert a["agentwatch.retrieval.top_k"] == 3
    assert a["agentwatch.retrieval.top_score"] == pytest.approx(truth[0][1], abs=1e-5)  # float32
    assert [i for i, _ in documents(a)] == [i for i, _ in truth]
    assert tel.sample("agentwatch_vector_search_results_sum", db="faiss", collection="FAISS") == 3
