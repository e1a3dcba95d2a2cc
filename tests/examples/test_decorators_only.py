from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from agentwatch.fake_provider.openai_api import embedding_vector

from ._run import list_price, run_example, spans

PROFILE = "Five years of Python and PostgreSQL, some Kafka; wants to stay in Berlin"
POSTINGS = {
    "job-1": "Senior Python backend engineer, PostgreSQL and Kafka, Berlin",
    "job-2": "Data engineer, Airflow, dbt and BigQuery, remote",
    "job-3": "Machine learning engineer, PyTorch and Python, Lisbon",
}


def test_one_trace_with_rollups_equal_to_the_priced_calls(tmp_path: Path) -> None:
    out = run_example("decorators_only/main.py", tmp_path)
    trace_id = re.search(r"^trace ([0-9a-f]{32}) in ", out, re.M)
    assert trace_id is not None
    found = [s for s in spans(tmp_path / ".agentwatch" / "spans.jsonl") if s["traceId"] == trace_id.group(1)]
    by_name = {s["name"]: s for s in found}
    assert sorted(s["name"] for s in found) == sorted([
        "handle_request", "retrieve", "advise", "embeddings text-embedding-3-small", "retrieval postings",
        "execute_tool lookup_company", "execute_tool lookup_company", "chat gpt-4o-mini"])

    ids = {s["spanId"]: s["name"] for s in found}
    parent = {s["name"]: ids.get(s.get("parentSpanId", "")) for s in found}
    assert parent["chat gpt-4o-mini"] == "advise" and parent["execute_tool lookup_company"] == "advise"
    assert parent["embeddings text-embedding-3-small"] == "retrieve"
    assert parent["retrieval postings"] == "retrieve"
    assert parent["advise"] == parent["retrieve"] == "handle_request"

    chat = by_name["chat gpt-4o-mini"]["attributes"]
    emb = by_name["embeddings text-embedding-3-small"]["attributes"]
    assert chat["gen_ai.request.temperature"] == 0.2
    chat_cost = list_price("openai", "gpt-4o-mini", {"input_tokens": int(chat["gen_ai.usage.input_tokens"]),
                                                      "output_tokens": int(chat["gen_ai.usage.output_tokens"])})
    emb_cost = list_price("openai", "text-embedding-3-small", {"input_tokens": int(emb["gen_ai.usage.input_tokens"])})
    assert chat["agentwatch.cost.usd"] == pytest.approx(chat_cost, rel=1e-9)
    assert emb["agentwatch.cost.usd"] == pytest.approx(emb_cost, rel=1e-9)
    assert by_name["advise"]["attributes"]["agentwatch.rollup.cost.usd"] == pytest.approx(chat_cost, rel=1e-9)
    assert by_name["retrieve"]["attributes"]["agentwatch.rollup.cost.usd"] == pytest.approx(emb_cost, rel=1e-9)
    assert by_name["handle_request"]["attributes"]["agentwatch.rollup.cost.usd"] == pytest.approx(
        chat_cost + emb_cost, rel=1e-9)

    # the search returned the two postings closest to the profile (cosine, computed here)
    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True)) / math.hypot(*a) / math.hypot(*b)

    query = embedding_vector(PROFILE, 1536)
    best = sorted(((k, cosine(query, embedding_vector(t, 1536))) for k, t in POSTINGS.items()), key=lambda p: -p[1])
    documents = json.loads(by_name["retrieval postings"]["attributes"]["gen_ai.retrieval.documents"])
    assert [d["id"] for d in documents] == [k for k, _ in best[:2]]
    assert [d["score"] for d in documents] == pytest.approx([s for _, s in best[:2]], abs=1e-4)

    # the report printed the same total
    total = re.search(r"model calls: 2 \(0 failed\), tokens in/out/cached: (\d+) / (\d+) / 0", out)
    assert total is not None
    assert int(total.group(1)) == int(chat["gen_ai.usage.input_tokens"]) + int(emb["gen_ai.usage.input_tokens"])
    assert int(total.group(2)) == int(chat["gen_ai.usage.output_tokens"])
