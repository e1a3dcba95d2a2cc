"""Prometheus metrics per graph and stage carry the same values as the spans."""

from __future__ import annotations

import pytest
from lg_helpers import ANSWER, attr, cost, four_node_graph, four_node_usage, spans_named

from agentwatch import names
from agentwatch.testing import Captured
from agentwatch_langgraph import CallbackHandler
from agentwatch_langgraph.testing import FakeChatModel, FakeRetriever


def test_stage_and_model_metrics_match_the_spans(tel: Captured) -> None:
    graph = four_node_graph(FakeChatModel(responses=[ANSWER]), FakeRetriever(k=4))
    questions = ["a", "a b", "a b c"]
    handler = CallbackHandler()
    for q in questions:
        graph.invoke({"question": q, "notes": []}, config={"callbacks": [handler]})

    for node in ("plan", "retrieve", "draft", "review"):
        spans = spans_named(tel.spans, node)
        labels = {"graph": "agent", "stage": node}
        assert tel.sample("agentwatch_stage_runs_total", **labels, outcome="ok") == 3
        assert tel.sample("agentwatch_stage_duration_seconds_count", **labels) == 3
        durations = sum(((s.end_time or 0) - (s.start_time or 0)) / 1e9 for s in spans)
        assert tel.sample("agentwatch_stage_duration_seconds_sum", **labels) == pytest.approx(
            durations, abs=1e-6
        )
        span_cost = sum(attr(s, names.ROLLUP_COST_USD) for s in spans)
        expected = sum(cost(*four_node_usage(q).get(node, (0, 0))) for q in questions)
        assert span_cost == pytest.approx(expected, rel=1e-9)
        if node == "retrieve":
            assert tel.sample("agentwatch_stage_cost_usd_total", **labels) is None  # no model, no cost
        else:
            assert tel.sample("agentwatch_stage_cost_usd_total", **labels) == pytest.approx(
                span_cost, rel=1e-9
            )

    model = {"provider": "openai", "model": "gpt-4o-mini", "operation": "chat"}
    total_in = sum(i for q in questions for i, _ in four_node_usage(q).values())
    total_out = sum(o for q in questions for _, o in four_node_usage(q).values())
    assert tel.sample("agentwatch_llm_calls_total", **model, outcome="ok") == 9
    assert tel.sample("agentwatch_llm_tokens_total", **model, type="input") == total_in
    assert tel.sample("agentwatch_llm_tokens_total", **model, type="output") == total_out
    assert tel.sample("agentwatch_llm_cost_usd_total", **model) == pytest.approx(
        cost(total_in, total_out), rel=1e-9
    )
    store = {"db": "unknown", "collection": "fake_retriever"}
    assert tel.sample("agentwatch_vector_search_results_count", **store) == 3
    assert tel.sample("agentwatch_vector_search_results_sum", **store) == 12
    workflows = spans_named(tel.spans, "invoke_workflow agent")
    assert sum(attr(s, names.ROLLUP_COST_USD) for s in workflows) == pytest.approx(
        cost(total_in, total_out), rel=1e-9
    )
