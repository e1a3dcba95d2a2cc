"""``agentwatch report``: per graph / stage / provider / model numbers from a span file."""

from __future__ import annotations

import io
import json
import math
import random
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from rich.console import Console

import agentwatch
from agentwatch import cli
from agentwatch.exporters.file import OTLPJsonFileExporter
from agentwatch.report import Quantiles, parse_since, render, summarise


def _record(tmp_path: Path, util: Any, runs: int = 6) -> tuple[Path, Any, list[Any]]:
    """Run the workload into a span file and an in-memory exporter at once."""
    path = tmp_path / "spans.jsonl"
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(OTLPJsonFileExporter(path)))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tel = agentwatch.configure(tracer_provider=provider)
    work = util.run_workload(tel.recorder, runs=runs)
    agentwatch.shutdown()
    return path, work, list(memory.get_finished_spans())


def test_summary_numbers_match_what_was_recorded(tmp_path: Path, util: Any) -> None:
    path, work, spans = _record(tmp_path, util)
    summary = summarise(path)
    assert summary.spans == len(spans) == 6 * (1 + 3 + 4)
    assert summary.traces == 6
    # Model rows: computed from the workload the test drove, costs from the spans' own attribute.
    cost_by_model: dict[str, float] = defaultdict(float)
    for s in spans:
        if "agentwatch.cost.usd" in s.attributes:
            cost_by_model[s.attributes["gen_ai.request.model"]] += s.attributes["agentwatch.cost.usd"]
    rows = {(m.provider, m.model): m for m in summary.models}
    assert set(rows) == {(c.provider, c.model) for c in work.calls}
    for (_provider, model), row in rows.items():
        calls = [c for c in work.calls if c.model == model]
        assert row.calls == len(calls)
        assert row.errors == sum(1 for c in calls if c.error)
        assert row.input_tokens == sum(c.input_tokens for c in calls)
        assert row.output_tokens == sum(c.output_tokens for c in calls)
        assert row.cached_tokens == sum(c.cached_tokens for c in calls)
        assert row.cost_usd == pytest.approx(cost_by_model[model], rel=1e-12)
        assert row.cost_usd > 0
        durations = [c.duration_s for c in calls]
        assert row.p50_s == pytest.approx(util.nearest_rank(durations, 0.5), abs=2e-9)
        assert row.p95_s == pytest.approx(util.nearest_rank(durations, 0.95), abs=2e-9)
    providers = {p.provider: p for p in summary.providers}
    assert providers["openai"].calls == sum(1 for c in work.calls if c.provider == "openai")
    assert summary.total.calls == len(work.calls) == 24
    assert summary.total.errors == 2
    # Stage rows: runs, failures, latency from the workload; tokens and cost roll up from their calls.
    stage_of = {s.context.span_id: s.name for s in spans if "agentwatch.stage.name" in s.attributes}
    cost_by_stage: dict[str, float] = defaultdict(float)
    for s in spans:
        if s.parent is not None and s.parent.span_id in stage_of:
            cost_by_stage[stage_of[s.parent.span_id]] += s.attributes.get("agentwatch.cost.usd", 0.0)
    stages = {(s.graph, s.stage): s for s in summary.stages}
    assert set(stages) == {("job_copilot", n) for n in ("retrieve", "analyze", "write")}
    for (_graph, name), row in stages.items():
        runs = [x for x in work.stages if x[1] == name]
        calls = [c for c in work.calls if c.stage == name]
        assert row.calls == len(runs) == 6
        assert row.errors == sum(1 for x in runs if x[3])
        assert row.llm_calls == len(calls)
        assert row.input_tokens == sum(c.input_tokens for c in calls)
        assert row.output_tokens == sum(c.output_tokens for c in calls)
        assert row.cached_tokens == sum(c.cached_tokens for c in calls)
        assert row.cost_usd == pytest.approx(cost_by_stage[name], rel=1e-12)
        assert row.p95_s == pytest.approx(util.nearest_rank([x[2] for x in runs], 0.95), abs=2e-9)
    assert stages[("job_copilot", "write")].errors == 2
    (graph,) = summary.graphs
    assert graph.graph == "job_copilot" and graph.calls == 6 and graph.errors == 0
    assert graph.input_tokens == sum(c.input_tokens for c in work.calls)
    assert graph.cached_tokens == 6 * 1024
    assert graph.cost_usd == pytest.approx(sum(cost_by_model.values()))
    assert graph.p50_s == pytest.approx(util.nearest_rank([g[1] for g in work.graphs], 0.5), abs=2e-9)


def test_since_and_trace_filters(tmp_path: Path, util: Any) -> None:
    path, _work, spans = _record(tmp_path, util)
    roots = sorted((s for s in spans if s.parent is None), key=lambda s: s.start_time)
    cut = roots[3].start_time
    later = summarise(path, since=cut)
    assert later.traces == 3
    assert later.spans == sum(1 for s in spans if s.start_time >= cut)
    one = roots[2]
    tid = format(one.context.trace_id, "032x")
    only = summarise(path, trace_id=tid.upper())
    assert only.spans == sum(1 for s in spans if s.context.trace_id == one.context.trace_id) == 8
    assert only.total.errors == 1  # run 2 hits the rate limit
    out = io.StringIO()
    render(path, Console(file=out, width=160), trace_id=tid)
    text = out.getvalue()
    assert f"trace {tid}" in text
    text = text[text.index(f"trace {tid}"):]
    assert text.index("invoke_workflow job_copilot") < text.index("analyze") < text.index("chat gpt-4o-mini")
    assert "error RateLimitError" in text
    assert parse_since("90s", now_ns=10**12) == 10**12 - 90 * 10**9
    assert parse_since("2h", now_ns=10**13) == 10**13 - 7200 * 10**9
    assert parse_since("2026-01-01T00:00:00Z") == 1767225600 * 10**9
    with pytest.raises(ValueError, match="duration"):
        parse_since("yesterday")


def test_cli_json_text_and_exit_codes(
    tmp_path: Path, util: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # rich reads the width from here when stdout is no terminal
    path, work, _ = _record(tmp_path, util, runs=3)
    assert cli.main(["report", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total"]["calls"] == len(work.calls) == 12
    assert data["total"]["input_tokens"] == sum(c.input_tokens for c in work.calls)
    costs = [m["cost_usd"] for m in data["models"]]
    assert costs == sorted(costs, reverse=True) and len(costs) == 4  # dearest first
    assert {s["stage"] for s in data["stages"]} == {"retrieve", "analyze", "write"}
    assert cli.main(["report", str(path), "--top", "1"]) == 0
    text = capsys.readouterr().out
    assert "Models" in text and "claude-sonnet-4" in text and "more rows not shown" in text
    assert cli.main(["report", str(tmp_path / "nothing.jsonl")]) == 1
    assert "no span file" in capsys.readouterr().err
    assert cli.main(["report", str(path), "--since", "last tuesday"]) == 2
    assert cli.main(["report", str(path), "--trace", "xyz"]) == 2


def test_reads_collector_file_exporter_lines_and_skips_the_rest(tmp_path: Path) -> None:
    """Lines as the OTel Collector's file exporter writes them (pdata's JSON marshaller), a metrics
    line from a shared file, base64 ids from protobuf's generic mapping, and a torn last line."""
    collector = {"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "copilot"}}]},
        "scopeSpans": [{"scope": {"name": "opentelemetry.instrumentation.openai", "version": "0.40"},
                        "spans": [{
                            "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
                            "parentSpanId": "", "name": "chat gpt-4o", "kind": 3,
                            "startTimeUnixNano": "1700000000000000000",
                            "endTimeUnixNano": "1700000001500000000",
                            "attributes": [
                                {"key": "gen_ai.system", "value": {"stringValue": "openai"}},
                                {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
                                {"key": "gen_ai.usage.prompt_tokens", "value": {"intValue": "120"}},
                                {"key": "gen_ai.usage.completion_tokens", "value": {"intValue": "30"}}],
                            "status": {"code": 2, "message": "boom"}}]}]}]}
    proto_style = json.loads(json.dumps(collector))
    span = proto_style["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span.update(traceId="W47/95gDgQPSabYzgT/GDA==", spanId="7uGbfsPBsXU=", name="chat gpt-4o",
                status={"code": "STATUS_CODE_OK"}, startTimeUnixNano="1700000002000000000",
                endTimeUnixNano="1700000002500000000")
    metrics = {"resourceMetrics": [{"resource": {}, "scopeMetrics": []}]}
    path = tmp_path / "collector.json"
    path.write_text("\n".join([json.dumps(collector), json.dumps(metrics), json.dumps(proto_style),
                               json.dumps(collector)[:80]]))
    summary = summarise(path)
    assert summary.bad_lines == 1
    (model,) = summary.models
    assert (model.provider, model.model, model.calls, model.errors) == ("openai", "gpt-4o", 2, 1)
    assert (model.input_tokens, model.output_tokens, model.unpriced) == (240, 60, 2)
    assert (model.p50_s, model.p95_s) == (0.5, 1.5)
    assert summarise(path, trace_id="5b8efff798038103d269b633813fc60c").spans == 2


def test_quantile_sketch_within_one_percent() -> None:
    rng = random.Random(7)
    values = [rng.lognormvariate(0, 1.5) for _ in range(50_000)]
    q = Quantiles()
    for v in values:
        q.add(v)
    ordered = sorted(values)
    for p in (0.5, 0.9, 0.95, 0.99):
        exact = ordered[math.ceil(p * len(values)) - 1]
        assert q.quantile(p) == pytest.approx(exact, rel=0.0101)
    assert len(q._buckets) < 2000


def _big_file(path: Path, target_bytes: int) -> int:
    """A span file of about ``target_bytes``: 512-span lines like the batch processor writes."""
    rng = random.Random(1)
    spans = []
    for i in range(512):
        attrs = [
            {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
            {"key": "gen_ai.provider.name", "value": {"stringValue": "openai"}},
            {"key": "gen_ai.request.model", "value": {"stringValue": f"gpt-4o-{i % 7}"}},
            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": str(100 + i)}},
            {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "25"}},
            {"key": "agentwatch.cost.usd", "value": {"doubleValue": 0.00125}},
            {"key": "agentwatch.usage.estimated", "value": {"boolValue": False}},
            {"key": "gen_ai.response.finish_reasons", "value": {"arrayValue": {"values": [
                {"stringValue": "stop"}]}}},
        ]
        start = 1_700_000_000_000_000_000 + i * 10**6
        spans.append({"traceId": f"{rng.getrandbits(128):032x}", "spanId": f"{rng.getrandbits(64):016x}",
                      "parentSpanId": f"{rng.getrandbits(64):016x}", "flags": 256, "name": "chat gpt-4o",
                      "kind": 3, "startTimeUnixNano": str(start),
                      "endTimeUnixNano": str(start + rng.randrange(10**8, 5 * 10**9)),
                      "attributes": attrs, "status": {}})
    line = (json.dumps({"resourceSpans": [{"resource": {}, "scopeSpans": [
        {"scope": {"name": "agentwatch"}, "spans": spans}]}]}, separators=(",", ":")) + "\n").encode()
    count = max(1, target_bytes // len(line))
    with open(path, "wb") as fh:
        for _ in range(count):
            fh.write(line)
    return count * 512


_MEASURE = """
import resource, sys, time
from agentwatch.report import summarise
t = time.perf_counter()
s = summarise(sys.argv[1])
print(s.total.calls, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def test_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    """Peak RSS reading a 16 MB file is within a few MB of reading a 2 MB one."""
    results = {}
    for mb in (2, 16):
        path = tmp_path / f"{mb}.jsonl"
        spans = _big_file(path, mb * 1024 * 1024)
        out = subprocess.run([sys.executable, "-c", _MEASURE, str(path)], capture_output=True, text=True,
                             check=True, timeout=120).stdout.split()
        assert int(out[0]) == spans
        results[mb] = (float(out[1]), int(out[2]) / 1024)  # seconds, peak MB
    small, large = results[2][1], results[16][1]
    assert large - small < 12, results
    mb_per_s = 16 / results[16][0]
    print(f"report: {mb_per_s:.0f} MB/s, peak RSS {large:.0f} MB for 16 MB vs {small:.0f} MB for 2 MB")
