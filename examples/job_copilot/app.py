"""The copilot as an object: clients, data, vector index and compiled graph, ready to run.

    with Copilot() as copilot:                      # offline unless API keys are set
        result = copilot.run({"profile_id": "prof-01", "job_id": "job-001"})

Each provider is real when its key is set (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``) and
``offline`` is not forced; otherwise it is agentwatch's bundled fake provider on 127.0.0.1, which
answers in the real wire formats with realistic usage (prompt-cache hits on repeated system
prompts, reasoning tokens on reasoning models).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import anthropic
import openai
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import InMemoryVectorStore

import agentwatch

from .graph import GRAPH_NAME, build_graph

DATA = Path(__file__).parent / "data"
logger = logging.getLogger("job_copilot")


@dataclass(frozen=True)
class Models:
    """Which model each step uses."""

    analyze: str = "o4-mini"
    embed: str = "text-embedding-3-small"
    resume: str = "claude-haiku-4-5"
    cover_letter: str = "gpt-4o"


def load_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def applications() -> list[dict[str, Any]]:
    """The bundled inputs: which profile applies to which posting."""
    return load_jsonl(DATA / "applications.jsonl")


class ClientEmbeddings(Embeddings):
    """LangChain embeddings computed with an OpenAI client (one request per call)."""

    def __init__(self, client: openai.OpenAI, model: str) -> None:
        self.client = client
        self.model = model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        response = self.client.embeddings.create(model=self.model, input=texts, encoding_format="float")
        return [item.embedding for item in sorted(response.data, key=lambda d: d.index)]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


class Copilot:
    """Everything one copilot process needs; use it as a context manager (or call :meth:`close`)."""

    def __init__(
        self, *, offline: bool = False, seed: int = 7, models: Models | None = None, latency: Any = None
    ) -> None:
        """``offline`` forces the fake provider; ``latency`` is the fake provider's latency policy
        (a :class:`agentwatch.fake_provider.Latency` or a function of provider and model)."""
        self.models = models or Models()
        self._latency = latency
        self.jobs = {j["id"]: j for j in load_jsonl(DATA / "jobs.jsonl")}
        self.profiles = {p["id"]: p for p in load_jsonl(DATA / "profiles.jsonl")}
        with open(DATA / "companies.json", encoding="utf-8") as fh:
            self.companies: dict[str, dict[str, Any]] = json.load(fh)
        self.fake: Any = None
        self.where: dict[str, str] = {}
        try:
            self.openai = self._openai_client(offline, seed)
            self.anthropic = self._anthropic_client(offline, seed)
            self.store = self._index_postings()
            self.graph = build_graph(self, retry_initial_interval=0.05 if self.fake else 1.0)
            self.handler = _langgraph_handler()
        except BaseException:
            self.close()
            raise

    # --- set-up --------------------------------------------------------------------------------------
    def _fake_provider(self, seed: int) -> Any:
        if self.fake is None:
            from agentwatch.fake_provider import FakeProvider

            self.fake = FakeProvider(seed=seed, latency=self._latency)
            self.fake.start()
        return self.fake

    def _openai_client(self, offline: bool, seed: int) -> openai.OpenAI:
        if not offline and os.environ.get("OPENAI_API_KEY"):
            client = openai.OpenAI()
            self.where["openai"] = str(client.base_url)
        else:
            base = self._fake_provider(seed).openai_base_url
            client = openai.OpenAI(base_url=base, api_key="sk-fake-offline", max_retries=2)
            self.where["openai"] = f"fake provider {base}"
        return _instrument("agentwatch_openai", client)

    def _anthropic_client(self, offline: bool, seed: int) -> anthropic.Anthropic:
        # max_retries=0: retries are the graph's job (the optimize_resume node's retry policy),
        # so each attempt is visible as a stage attempt.
        if not offline and os.environ.get("ANTHROPIC_API_KEY"):
            client = anthropic.Anthropic(max_retries=0)
            self.where["anthropic"] = str(client.base_url)
        else:
            base = self._fake_provider(seed).anthropic_base_url
            client = anthropic.Anthropic(base_url=base, api_key="sk-ant-fake-offline", max_retries=0)
            self.where["anthropic"] = f"fake provider {base}"
        return _instrument("agentwatch_anthropic", client)

    def _index_postings(self) -> InMemoryVectorStore:
        store = InMemoryVectorStore(ClientEmbeddings(self.openai, self.models.embed))
        docs = [
            Document(
                id=j["id"],
                page_content=f"{j['title']} at {j['company']}\n{j['text']}",
                metadata={"title": j["title"], "company": j["company"]},
            )
            for j in self.jobs.values()
        ]
        with agentwatch.stage("index_postings"):
            store.add_documents(docs)
        return store

    # --- what the nodes use ----------------------------------------------------------------------
    def job(self, job_id: str) -> dict[str, Any]:
        return self.jobs[job_id]

    def profile(self, profile_id: str) -> dict[str, Any]:
        return self.profiles[profile_id]

    def search_postings(self, query: str, k: int) -> list[tuple[Document, float]]:
        return _search_postings(self.store, query, k=k)

    # --- running ---------------------------------------------------------------------------------
    def run(self, application: Mapping[str, Any]) -> dict[str, Any]:
        """One application through the workflow; returns the final state."""
        missing = [key for key in ("profile_id", "job_id") if key not in application]
        if missing:
            raise ValueError(f"an application needs {missing}: got {dict(application)!r}")
        config: dict[str, Any] = {"callbacks": [self.handler]} if self.handler is not None else {}
        result: dict[str, Any] = self.graph.invoke(dict(application), config=config)
        return result

    def close(self) -> None:
        for client in (getattr(self, "openai", None), getattr(self, "anthropic", None)):
            if client is not None:
                try:
                    client.close()
                except Exception:  # closing is best effort
                    logger.debug("closing a client failed", exc_info=True)
        if self.fake is not None:
            fake, self.fake = self.fake, None
            fake.stop()

    def __enter__(self) -> Copilot:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@agentwatch.track_vector_search(db="in_memory", collection="job_postings", top_k_arg="k", query_arg="query")
def _search_postings(store: InMemoryVectorStore, query: str, k: int) -> list[tuple[Document, float]]:
    return store.similarity_search_with_score(query, k=k)


def demo_latency(provider: str, model: str) -> Any:
    """Latency for the fake provider that looks like the real APIs, only about ten times faster."""
    from agentwatch.fake_provider import Latency

    if provider == "anthropic":
        return Latency(ttft=0.06, per_token=0.0004, jitter=0.4)
    if model.startswith(("o1", "o3", "o4", "gpt-5")):
        return Latency(ttft=0.09, per_token=0.0003, jitter=0.4)
    if model.startswith("text-embedding"):
        return Latency(ttft=0.015, jitter=0.3)
    return Latency(ttft=0.04, per_token=0.0005, jitter=0.4)


def _instrument(module: str, client: Any) -> Any:
    try:
        adapter = __import__(module)
    except ImportError:
        logger.warning("%s is not installed: %s calls are not traced", module, type(client).__name__)
        return client
    return adapter.instrument(client)


def _langgraph_handler() -> Any:
    try:
        from agentwatch_langgraph import CallbackHandler
    except ImportError:
        logger.warning("agentwatch_langgraph is not installed: graph runs and nodes are not traced")
        return None
    return CallbackHandler(graph_name=GRAPH_NAME)
