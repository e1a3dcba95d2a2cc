"""A deterministic LangChain embeddings class and a small document set for the adapter tests."""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
from collections.abc import Callable

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import InMemoryVectorStore

_WORDS = re.compile(r"[a-z0-9]+")


class WordHashEmbeddings(Embeddings):
    """Signed feature hashing of words into ``size`` dimensions, L2-normalised: texts sharing words
    are close under cosine; the same text always gets the same vector."""

    model = "word-hash-32"

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self.calls: list[str] = []

    def _vector(self, text: str) -> list[float]:
        vector = [0.0] * self.size
        for word in _WORDS.findall(text.lower()):
            digest = hashlib.blake2s(word.encode()).digest()
            weight = 1.0 + digest[2] / 255
            vector[int.from_bytes(digest[:2], "big") % self.size] += weight if digest[3] & 1 else -weight
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        return [v / norm for v in vector]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls.append("embed_documents")
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        self.calls.append("embed_query")
        return self._vector(text)

    async def aembed_query(self, text: str) -> list[float]:
        await asyncio.sleep(0)
        self.calls.append("aembed_query")
        return self._vector(text)


class Broken(WordHashEmbeddings):
    def embed_query(self, text: str) -> list[float]:
        raise ConnectionError(f"embedding service down for {text!r}")


ROLES = ["python backend engineer", "data engineer spark", "frontend developer react", "ml engineer pytorch",
         "site reliability engineer kubernetes", "product designer figma"]
CITIES = ["berlin", "lisbon", "remote", "london", "madrid"]


def job_documents() -> list[Document]:
    docs = []
    for i in range(30):
        role, city = ROLES[i % len(ROLES)], CITIES[(i * 7) % len(CITIES)]
        docs.append(Document(id=f"job-{i}", page_content=f"{role} in {city}, team {i % 4}",
                             metadata={"city": city}))
    return docs


def cosine_ranking(emb: WordHashEmbeddings, query: str, docs: list[Document]) -> list[tuple[str, float]]:
    """The true ranking, computed here: unit vectors, so cosine similarity is the dot product."""
    q = emb._vector(query)
    scored = [(str(d.id), sum(a * b for a, b in zip(q, emb._vector(d.page_content), strict=True)))
              for d in docs]
    return sorted(scored, key=lambda pair: -pair[1])


class ScoredMemoryStore(InMemoryVectorStore):
    """InMemoryVectorStore with a relevance function (its scores are already cosine similarities)."""

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        return lambda score: score
