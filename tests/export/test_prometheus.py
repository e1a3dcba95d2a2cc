"""A real Prometheus server scrapes agentwatch's /metrics: values, exemplars, cardinality, and every
PromQL expression of the shipped dashboard and alert rules, evaluated by that server."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

import agentwatch
from agentwatch import errors
from agentwatch.recorder import Recorder
from agentwatch.records import Inference, Stage, ToolCall, VectorSearch
from agentwatch.report import iter_spans

MONITORING = Path(__file__).resolve().parents[2] / "docs" / "monitoring"
MAX_LABELS = 20


class RateLimitError(Exception):
    pass


def _extras(rec: Recorder, tool_names: int = 25) -> dict[str, int]:
    """What the workload lacks to exercise every panel and alert; returns what it recorded."""
    now = time.time_ns()
    counts: dict[str, int] = defaultdict(int)
    st = rec.start(Stage("plan", graph="job_copilot"), parent=None, start_ns=now - 100 * 10**9)
    # slow reasoning calls (p95 latency alert)
    for _ in range(4):
        c = rec.start(Inference("openai", "o3"), parent=st, start_ns=now - 45 * 10**9)
        c.record_usage(input_tokens=1000, output_tokens=4000)
        rec.finish(c, end_ns=now)
        counts["o3"] += 1
    # a burst of rate limits
    for _ in range(12):
        c = rec.start(Inference("openai", "gpt-4o"), parent=st, start_ns=now - 10**8)
        rec.fail(c, RateLimitError("429 Too Many Requests"), end_ns=now)
        counts["rate_limited"] += 1
    # very large prompts: $15 a phase (rate() over 15 minutes makes that $60 an hour, over budget)
    for _ in range(3):
        c = rec.start(Inference("openai", "gpt-4o"), parent=st, start_ns=now - 20 * 10**9)
        c.record_usage(input_tokens=2_000_000, output_tokens=1000)
        rec.finish(c, end_ns=now)
        counts["big"] += 1
    # a model without a price
    c = rec.start(Inference("openai", "ft:gpt-4o:acme:unpriced"), parent=st, start_ns=now - 10**9)
    c.record_usage(input_tokens=100, output_tokens=10)
    rec.finish(c, end_ns=now)
    counts["unpriced"] += 1
    # a streamed call (time to first token)
    c = rec.start(Inference("anthropic", "claude-sonnet-4"), parent=st, start_ns=now - 3 * 10**9)
    c.mark_first_chunk(now - 2 * 10**9)
    c.record_usage(input_tokens=300, output_tokens=50)
    rec.finish(c, end_ns=now)
    counts["streamed"] += 1
    rec.finish(st, end_ns=now)
    # vector searches and tools (more tool names than the label limit allows)
    for i in range(5):
        v = rec.start(VectorSearch("pgvector", "jobs", top_k=5), parent=None, start_ns=now - (i + 1) * 10**6)
        v.set_returned(5)
        rec.finish(v, end_ns=now)
    for i in range(tool_names):
        t = rec.start(ToolCall(f"tool_{i:02d}"), parent=None, start_ns=now - 10**6)
        rec.finish(t, end_ns=now)
    errors.report("test.injected", "an injected internal error")
    return counts


def _grafana_exprs() -> list[tuple[str, str]]:
    dash = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    out = []
    for panel in dash["panels"]:
        for target in panel.get("targets", []):
            out.append((panel["title"], target["expr"]))
    return out


def _substitute(expr: str) -> str:
    for var in ("$provider", "$model", "$graph"):
        expr = expr.replace(var, ".*")
    return expr.replace("$__rate_interval", "1m").replace("$__range", "1h")


@pytest.mark.services
def test_real_prometheus_scrape(
    tmp_path: Path, util: Any, start_prometheus: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    errors.reset()
    tel = agentwatch.configure(exporters=["file"], spans_file=tmp_path / "spans.jsonl", prometheus_port=0,
                               max_label_values=MAX_LABELS)
    assert tel.metrics_url is not None and tel.metrics_url.startswith("http://127.0.0.1:")
    target = tel.metrics_url.removeprefix("http://").removesuffix("/metrics")
    rec = tel.recorder
    work1 = util.run_workload(rec, runs=3)
    extras = _extras(rec)
    prom = start_prometheus([target], rule_files=[MONITORING / "alerts.yml"])
    prom.wait_for("agentwatch_llm_calls_total", lambda r: len(r) > 0)
    time.sleep(1.2)  # at least one more scrape with the phase-1 values
    work2 = util.run_workload(rec, runs=3)
    _extras(rec)
    calls = work1.calls + work2.calls
    n_models = len(calls) + 2 * sum(extras.values())
    prom.wait_for("sum(agentwatch_llm_calls_total)",
                  lambda r: bool(r) and float(r[0]["value"][1]) == n_models)
    tel.force_flush()

    # --- values: Prometheus has what the test recorded -----------------------------------------
    spans = list(iter_spans(tmp_path / "spans.jsonl"))
    for model in ("gpt-4o-mini", "claude-sonnet-4", "text-embedding-3-small"):
        mine = [c for c in calls if c.model == model]
        label = tel.price_book.model_label(mine[0].provider, model)  # the normalised model name
        assert label == {"claude-sonnet-4": "claude-sonnet-4-0"}.get(model, model)
        got_in = prom.value(f'sum(agentwatch_llm_tokens_total{{model="{label}", type="input"}})')
        extra_in = 2 * 300 if model == "claude-sonnet-4" else 0
        assert got_in == sum(c.input_tokens for c in mine) + extra_in
        count = prom.value(f'sum(agentwatch_llm_call_duration_seconds_count{{model="{label}"}})')
        assert count == len(mine) + (2 if model == "claude-sonnet-4" else 0)
        duration_sum = prom.value(f'sum(agentwatch_llm_call_duration_seconds_sum{{model="{label}"}})')
        expected_sum = sum(c.duration_s for c in mine) + (2 * 3.0 if model == "claude-sonnet-4" else 0)
        assert duration_sum == pytest.approx(expected_sum, rel=1e-9)
        span_cost = sum(s.attributes.get("agentwatch.cost.usd", 0.0) for s in spans
                        if s.attributes.get("gen_ai.request.model") == model)
        cost = prom.value(f'sum(agentwatch_llm_cost_usd_total{{model="{label}"}})')
        assert cost == pytest.approx(span_cost)
    got_errors = {(r["metric"]["model"], r["metric"]["error_type"], float(r["value"][1]))
                  for r in prom.query('sum by (model, error_type) (agentwatch_llm_errors_total)')}
    assert got_errors == {
        ("gpt-4o", "RateLimitError", 2 * extras["rate_limited"] + sum(1 for c in calls if c.error))}
    stage_runs = {(r["metric"]["stage"], r["metric"]["outcome"]): float(r["value"][1])
                  for r in prom.query('agentwatch_stage_runs_total{graph="job_copilot"}')}
    failed_writes = sum(1 for s in work1.stages + work2.stages if s[1] == "write" and s[3])
    assert stage_runs[("write", "error")] == failed_writes
    assert stage_runs[("write", "ok")] == 4
    stage_input = prom.value(
        'agentwatch_stage_tokens_total{graph="job_copilot", stage="analyze", type="input"}')
    assert stage_input == sum(c.input_tokens for c in calls if c.stage == "analyze")
    assert prom.value("agentwatch_unpriced_calls_total") == 2

    # --- cardinality guard: at most MAX_LABELS tool values, the rest in "other", counted -------
    tools = prom.query("agentwatch_tool_calls_total")
    assert len(tools) == MAX_LABELS + 1
    assert prom.value('agentwatch_tool_calls_total{tool="other"}') == 2 * (25 - MAX_LABELS)
    assert prom.value('agentwatch_label_overflow_total{label="tool"}') == 2 * (25 - MAX_LABELS)

    # --- exemplars: trace ids of real spans, stored by Prometheus --------------------------------
    trace_ids = {s.trace_id for s in spans}
    now = time.time()
    for metric in ("agentwatch_llm_call_duration_seconds_bucket", "agentwatch_llm_calls_total"):
        found = prom.api("query_exemplars", query=metric, start=now - 600, end=now + 60)
        exemplar_ids = {e["labels"]["trace_id"] for series in found for e in series["exemplars"]}
        assert exemplar_ids and exemplar_ids <= trace_ids, metric

    # --- every dashboard query returns data -------------------------------------------------------
    for title, expr in _grafana_exprs():
        assert prom.query(_substitute(expr)), f"dashboard panel {title!r}: no data for {expr}"
    dash = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    for var in dash["templating"]["list"]:
        if var["type"] != "query":
            continue
        m = re.fullmatch(r"label_values\((.+), (\w+)\)", var["query"]["query"])
        assert m, var
        assert prom.query(f"count by ({m.group(2)}) ({_substitute(m.group(1))})"), var["name"]

    # --- every alert rule is healthy and its alert is active on this workload --------------------
    rules = [r for g in prom.api("rules")["groups"] for r in g["rules"]]
    alert_names = {r["name"] for r in rules if r["type"] == "alerting"}
    assert len(alert_names) == 7
    deadline = time.monotonic() + 20
    active: set[str] = set()
    while time.monotonic() < deadline:
        rules = [r for g in prom.api("rules")["groups"] for r in g["rules"]]
        broken = [r for r in rules if r["health"] not in ("ok", "unknown")]
        assert not broken, broken
        active = {a["labels"]["alertname"] for a in prom.api("alerts")["alerts"]}
        if active == alert_names:
            break
        time.sleep(0.5)
    assert active == alert_names, prom.query("agentwatch:llm_cost_usd_per_hour:rate15m")
    for rule in rules:
        if rule["type"] == "alerting":
            assert prom.query(rule["query"]), rule["name"]
    agentwatch.shutdown()


def test_openmetrics_with_exemplars_on_request_and_promtool_lint(tmp_path: Path, util: Any) -> None:
    tel = agentwatch.configure(exporters=["none"], prometheus_port=0)
    util.run_workload(tel.recorder, runs=2)
    assert tel.metrics_url is not None
    ctype, text = util.http_get(tel.metrics_url)
    assert ctype.startswith("text/plain") and "# {" not in text
    ctype, om = util.http_get(tel.metrics_url, {"Accept": "application/openmetrics-text; version=1.0.0"})
    assert ctype.startswith("application/openmetrics-text")
    assert om.rstrip().endswith("# EOF")
    pattern = (r'agentwatch_llm_calls_total\{[^}]*model="gpt-4o-mini"[^}]*\} 2\.0 '
               r'# \{trace_id="[0-9a-f]{32}"\}')
    assert re.search(pattern, om), om[:2000]
    assert "agentwatch_llm_calls_total" in text and "agentwatch_stage_tokens_total" in text
    promtool = shutil.which("promtool")
    assert promtool, "promtool is needed (Debian package prometheus)"
    check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True,
                           check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    agentwatch.shutdown()


def test_alert_rules_check_and_unit_tests() -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is needed (Debian package prometheus)"
    check = subprocess.run([promtool, "check", "rules", str(MONITORING / "alerts.yml")], capture_output=True,
                           text=True, check=False)
    assert check.returncode == 0 and "SUCCESS: 9 rules found" in check.stdout, check.stdout + check.stderr
    test = subprocess.run([promtool, "test", "rules", "alerts.test.yml"], cwd=MONITORING, capture_output=True,
                          text=True, check=False)
    assert test.returncode == 0 and "SUCCESS" in test.stdout, test.stdout + test.stderr
    # every alert has a firing case in the unit tests and a runbook section
    rules = (MONITORING / "alerts.yml").read_text()
    tests = (MONITORING / "alerts.test.yml").read_text()
    readme = (MONITORING / "README.md").read_text()
    for name in re.findall(r"- alert: (\w+)", rules):
        assert re.search(rf"alertname: {name}\n\s+exp_alerts:\n\s+- exp_labels", tests), name
        assert re.search(rf"^### {name}$", readme, re.MULTILINE), name
