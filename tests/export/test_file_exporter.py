"""The embedded default: spans in a local OTLP/JSON lines file, size-rotated."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    set_span_in_context,
)
from opentelemetry.trace.span import TraceState

import agentwatch
from agentwatch.exporters.file import OTLPJsonFileExporter, encode_request
from agentwatch.report import summarise


def _hex_ids_to_base64(obj: Any) -> Any:
    """OTLP/JSON (hex ids) -> protobuf's generic JSON mapping (base64 bytes), to parse with json_format."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str):
                out[k] = base64.b64encode(bytes.fromhex(v)).decode()
            else:
                out[k] = _hex_ids_to_base64(v)
        return out
    if isinstance(obj, list):
        return [_hex_ids_to_base64(v) for v in obj]
    return obj


def _varied_spans() -> list[Any]:
    exporter = InMemorySpanExporter()
    resource = Resource.create({"service.name": "svc", "deployment.environment": "t"})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("agentwatch", "9.9", attributes={"scope.attr": 1})
    other = provider.get_tracer("other-lib")
    remote = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1),
                         trace_state=TraceState([("vendor", "v1")]))
    with tracer.start_as_current_span(
        "invoke_workflow g", context=set_span_in_context(NonRecordingSpan(remote)), kind=SpanKind.SERVER,
        attributes={"s": "text é", "i": 42, "f": 0.125, "b": True, "neg": -7, "big": 2**62,
                    "strs": ["a", "b"], "ints": [1, 2], "floats": [0.5], "bools": [False, True], "empty": []},
        links=[Link(SpanContext(0x1234, 0x5678, is_remote=False), {"why": "resume"})],
    ) as root:
        root.add_event("interrupt", {"node": "review"})
        with other.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT) as child:
            child.set_status(Status(StatusCode.ERROR, "RateLimitError: 429"))
            child.set_attribute("error.type", "RateLimitError")
        with tracer.start_as_current_span("ok", kind=SpanKind.PRODUCER) as ok:
            ok.set_status(Status(StatusCode.OK))
        with tracer.start_as_current_span("c", kind=SpanKind.CONSUMER, attributes={"nan": float("nan")}):
            pass
    return list(exporter.get_finished_spans())


def test_each_line_is_the_sdk_protobuf_request_in_otlp_json() -> None:
    spans = _varied_spans()
    line = json.loads(json.dumps(encode_request(spans)))
    # OTLP/JSON specifics the Collector writes: hex ids, integer enums, int64 as strings.
    first = line["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert len(first["traceId"]) == 32 and int(first["traceId"], 16)
    assert isinstance(first["kind"], int)
    assert isinstance(first["startTimeUnixNano"], str)
    parsed = json_format.ParseDict(_hex_ids_to_base64(line), ExportTraceServiceRequest())
    expected = encode_spans(spans)
    # Same content, field for field (nan != nan, so compare that one attribute apart).
    assert _without_nan(parsed) == _without_nan(expected)
    nan_values = [kv.value.double_value for rs in parsed.resource_spans for ss in rs.scope_spans
                  for s in ss.spans for kv in s.attributes if kv.key == "nan"]
    assert len(nan_values) == 1 and nan_values[0] != nan_values[0]


def _without_nan(request: ExportTraceServiceRequest) -> ExportTraceServiceRequest:
    copy = ExportTraceServiceRequest()
    copy.CopyFrom(request)
    for rs in copy.resource_spans:
        for ss in rs.scope_spans:
            for s in ss.spans:
                keep = [kv for kv in s.attributes if kv.key != "nan"]
                del s.attributes[:]
                s.attributes.extend(keep)
    # Group order may differ (the SDK groups by hash); compare scope groups in name order.
    for rs in copy.resource_spans:
        groups = sorted(rs.scope_spans, key=lambda g: g.scope.name)
        del rs.scope_spans[:]
        rs.scope_spans.extend(groups)
    return copy


def test_rotation_keeps_backups_and_report_reads_them_oldest_first(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    exporter = OTLPJsonFileExporter(path, max_bytes=4096, backups=2)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))  # one line per span
    tracer = provider.get_tracer("t")
    for i in range(60):
        with tracer.start_as_current_span(f"chat m{i}", attributes={
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": i, "gen_ai.usage.output_tokens": 1,
        }):
            pass
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["spans.jsonl", "spans.jsonl.1", "spans.jsonl.2"]
    line_sizes = [len(x) for x in path.read_bytes().splitlines(keepends=True)]
    for name in files:
        assert (tmp_path / name).stat().st_size <= 4096
    # What is kept is the newest spans, in order, with nothing torn.
    kept = []
    for name in ["spans.jsonl.2", "spans.jsonl.1", "spans.jsonl"]:
        for raw in (tmp_path / name).read_text().splitlines():
            span = json.loads(raw)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
            kept.append(int(span["name"].removeprefix("chat m")))
    assert kept == list(range(60 - len(kept), 60))
    assert exporter.spans_written == 60
    assert len(kept) >= 3 * (4096 // max(line_sizes)) - 3
    summary = summarise(path)
    names = ["spans.jsonl.2", "spans.jsonl.1", "spans.jsonl"]
    assert summary.files == tuple(str(tmp_path / n) for n in names)
    assert summary.total.calls == len(kept)
    assert summary.total.input_tokens == sum(kept)


def test_embedded_default_writes_dot_agentwatch_spans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    tel = agentwatch.configure(service_name="default-test")
    assert tel.exporters == ("file",)
    assert tel.spans_path == Path(".agentwatch/spans.jsonl")

    @agentwatch.track_inference(provider="openai", model="gpt-4o-mini")
    def ask(n: int) -> str:
        agentwatch.current_call().record_usage(input_tokens=100 * n, output_tokens=10 * n)
        return "ok"

    with agentwatch.stage("answer"):
        for n in range(1, 6):
            ask(n)
    agentwatch.shutdown()
    lines = (tmp_path / ".agentwatch" / "spans.jsonl").read_text().splitlines()
    spans = [s for line in lines for rs in json.loads(line)["resourceSpans"]
             for ss in rs["scopeSpans"] for s in ss["spans"]]
    resource = json.loads(lines[0])["resourceSpans"][0]["resource"]["attributes"]
    assert {"key": "service.name", "value": {"stringValue": "default-test"}} in resource
    assert sorted(s["name"] for s in spans) == ["answer"] + ["chat gpt-4o-mini"] * 5
    stage = next(s for s in spans if s["name"] == "answer")
    assert all(s["parentSpanId"] == stage["spanId"] for s in spans if s is not stage)
    inputs = sorted(int(a["value"]["intValue"]) for s in spans for a in s.get("attributes", [])
                    if a["key"] == "gen_ai.usage.input_tokens")
    assert inputs == [100, 200, 300, 400, 500]


def test_span_file_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "elsewhere" / "s.jsonl"
    monkeypatch.setenv("AGENTWATCH_SPANS_FILE", str(target))
    monkeypatch.setenv("AGENTWATCH_SPANS_FILE_MAX_BYTES", "2048")
    tel = agentwatch.configure()
    assert tel.spans_path == target
    assert target.exists()
    agentwatch.shutdown()
    monkeypatch.setenv("AGENTWATCH_SPANS_FILE_MAX_BYTES", "lots")
    with pytest.raises(agentwatch.ConfigurationError, match="AGENTWATCH_SPANS_FILE_MAX_BYTES"):
        agentwatch.configure()
    with pytest.raises(agentwatch.ConfigurationError, match="spans_file_max_bytes"):
        agentwatch.configure(spans_file_max_bytes=10)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(agentwatch.ConfigurationError, match="cannot be written"):
        agentwatch.configure(spans_file=blocker / "spans.jsonl", spans_file_max_bytes=4096)


def test_concurrent_writers_never_tear_a_line(tmp_path: Path) -> None:
    """Several exporters (as several worker processes would) append to one file: every line parses."""
    import threading

    path = tmp_path / "spans.jsonl"
    spans = _varied_spans() * 10

    def write() -> None:
        exporter = OTLPJsonFileExporter(path)
        for _ in range(20):
            exporter.export(spans)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = path.read_bytes().splitlines()
    assert len(lines) == 80
    assert all(len(json.loads(x)["resourceSpans"]) == 1 for x in lines)
    assert os.path.getsize(path) == sum(len(x) + 1 for x in lines)
