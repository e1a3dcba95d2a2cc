"""agentwatch without any framework or SDK: plain functions under its decorators.

    python examples/decorators_only/main.py

The model and embedding calls are plain HTTP requests (urllib) to an OpenAI-compatible API; the
search and the tool are ordinary Python. Without OPENAI_API_KEY it starts agentwatch's bundled
fake provider on 127.0.0.1. It prints the trace as a tree and the cost per stage and model, read
back from the span file.
"""

from __future__ import annotations

import json
import math
import os
import urllib.request
from typing import Any

from opentelemetry import trace

import agentwatch
from agentwatch.fake_provider.offline import unless_keys
from agentwatch.report import render

POSTINGS = {
    "job-1": "Senior Python backend engineer, PostgreSQL and Kafka, Berlin",
    "job-2": "Data engineer, Airflow, dbt and BigQuery, remote",
    "job-3": "Machine learning engineer, PyTorch and Python, Lisbon",
}
COMPANIES = {"job-1": "Payments company, 400 people", "job-2": "Retail analytics, 80 people",
             "job-3": "Health start-up, 30 people"}


def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
    base = os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1").rstrip("/")
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {os.environ['OPENAI_API_KEY']}"}
    request = urllib.request.Request(base + path, data=json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        result: dict[str, Any] = json.load(response)
    return result


@agentwatch.track_embedding(provider="openai", model="text-embedding-3-small")
def embed(texts: list[str]) -> dict[str, Any]:
    # The decorator reads "usage" and "model" from the returned JSON, like from an SDK object.
    return post("/embeddings", {"model": "text-embedding-3-small", "input": texts})


@agentwatch.track_vector_search("memory", "postings", top_k_arg="k")
def search(query: list[float], vectors: dict[str, list[float]], k: int = 2) -> list[tuple[str, float]]:
    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True)) / (math.hypot(*a) * math.hypot(*b))

    scored = [(job_id, round(cosine(query, vector), 4)) for job_id, vector in vectors.items()]
    return sorted(scored, key=lambda pair: -pair[1])[:k]  # (id, score) pairs: ids and scores recorded


@agentwatch.track_tool(name="lookup_company")
def lookup_company(job_id: str) -> str:
    return COMPANIES[job_id]


@agentwatch.track_inference(provider="openai", model="gpt-4o-mini", temperature=0.2)
def ask(prompt: str) -> dict[str, Any]:
    return post("/chat/completions", {"model": "gpt-4o-mini", "temperature": 0.2,
                                      "messages": [{"role": "user", "content": prompt}]})


def match(profile: str) -> str:
    with agentwatch.stage("retrieve", graph="job-matcher"):
        data = embed([profile, *POSTINGS.values()])["data"]
        vectors = {job_id: item["embedding"] for job_id, item in zip(POSTINGS, data[1:], strict=True)}
        hits = search(data[0]["embedding"], vectors, k=2)
    with agentwatch.stage("advise", graph="job-matcher"):
        facts = "\n".join(f"- {POSTINGS[j]} ({lookup_company(j)}), similarity {s}" for j, s in hits)
        answer = ask(f"Candidate: {profile}\nOpenings:\n{facts}\nWhich one should they apply to?")
    return str(answer["choices"][0]["message"]["content"])


def main() -> None:
    tel = agentwatch.configure(service_name="decorators-example", exporters=["file"])
    with agentwatch.stage("handle_request", graph="job-matcher"):
        trace_id = f"{trace.get_current_span().get_span_context().trace_id:032x}"
        print(match("Five years of Python and PostgreSQL, some Kafka; wants to stay in Berlin")[:200])
    tel.force_flush()
    render(str(tel.spans_path), trace_id=trace_id, title="this run")
    print(f"trace {trace_id} in {tel.spans_path}")
    agentwatch.shutdown()


if __name__ == "__main__":
    with unless_keys("openai"):  # no OPENAI_API_KEY: the bundled fake provider on 127.0.0.1
        main()
