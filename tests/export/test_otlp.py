"""Spans over OTLP (gRPC and HTTP/protobuf) to a receiver that decodes the real protobuf wire format,
configured only through the standard ``OTEL_*`` variables; and adoption of an application's provider."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import agentwatch


def _check_workload_spans(received: list[tuple[Any, Any]], util: Any, work: Any) -> None:
    spans = [s for _, s in received]
    by_id = {s.span_id: s for s in spans}
    assert len(spans) == len(by_id) == 8  # 1 graph + 3 stages + 4 model calls
    names = sorted(s.name for s in spans)
    assert names == sorted(["invoke_workflow job_copilot", "retrieve", "analyze", "write",
                            "embeddings text-embedding-3-small", "chat gpt-4o-mini", "chat claude-sonnet-4",
                            "chat gpt-4o"])
    (root,) = [s for s in spans if not s.parent_span_id]
    assert root.name == "invoke_workflow job_copilot"
    assert len({s.trace_id for s in spans}) == 1
    for s in spans:
        if s.name in ("retrieve", "analyze", "write"):
            assert s.parent_span_id == root.span_id
        elif s is not root:
            parent = by_id[s.parent_span_id]
            call = next(c for c in work.calls if s.name.endswith(" " + c.model))
            assert parent.name == call.stage
            attrs = util.attrs_of(s.attributes)
            assert attrs["gen_ai.usage.input_tokens"] == call.input_tokens
            assert attrs["gen_ai.usage.output_tokens"] == call.output_tokens
            assert attrs["agentwatch.cost.usd"] > 0
            assert attrs["agentwatch.cost.source"]
            duration_ns = s.end_time_unix_nano - s.start_time_unix_nano
            assert duration_ns == pytest.approx(call.duration_s * 1e9, abs=1)
    analyze = next(s for s in spans if s.name == "analyze")
    costs = [util.attrs_of(s.attributes)["agentwatch.cost.usd"] for s in spans
             if s.parent_span_id == analyze.span_id]
    assert util.attrs_of(analyze.attributes)["agentwatch.rollup.cost.usd"] == pytest.approx(sum(costs))


def test_http_protobuf_from_standard_variables(
    otlp_receiver: Any, util: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{otlp_receiver.http_port}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=acme,authorization=Bearer%20t0k")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "copilot-api")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=staging,team=ml")
    tel = agentwatch.configure()
    assert tel.exporters == ("otlp",)
    work = util.run_workload(tel.recorder, runs=1)
    agentwatch.shutdown()
    received = otlp_receiver.wait_spans(8)
    _check_workload_spans(received, util, work)
    (req, *_) = otlp_receiver.received
    assert req.transport == "http"
    assert req.headers["x-tenant"] == "acme"
    assert req.headers["authorization"] == "Bearer t0k"
    resource = util.attrs_of(received[0][0].attributes)
    assert resource["service.name"] == "copilot-api"
    assert resource["deployment.environment"] == "staging"
    assert resource["team"] == "ml"
    assert not (tmp_path / ".agentwatch").exists()  # an endpoint replaces the local file
    # Batched: the spans of the run arrive in fewer requests than spans.
    assert len(otlp_receiver.received) < 8


def test_grpc_from_traces_endpoint(otlp_receiver: Any, util: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"http://127.0.0.1:{otlp_receiver.grpc_port}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=acme")
    tel = agentwatch.configure(service_name="by-argument")
    work = util.run_workload(tel.recorder, runs=1)
    agentwatch.shutdown()
    received = otlp_receiver.wait_spans(8)
    _check_workload_spans(received, util, work)
    assert {r.transport for r in otlp_receiver.received} == {"grpc"}
    assert otlp_receiver.received[0].headers["x-tenant"] == "acme"
    assert util.attrs_of(received[0][0].attributes)["service.name"] == "by-argument"


def test_explicit_exporters_otlp_and_file(
    otlp_receiver: Any, util: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{otlp_receiver.http_port}")
    tel = agentwatch.configure(exporters=["otlp", "file"], spans_file=tmp_path / "s.jsonl")
    assert tel.exporters == ("otlp", "file")
    util.run_workload(tel.recorder, runs=2)
    agentwatch.shutdown()
    over_otlp = {s.span_id.hex() for _, s in otlp_receiver.wait_spans(16)}
    in_file = {s["spanId"] for line in (tmp_path / "s.jsonl").read_text().splitlines()
               for rs in json.loads(line)["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]}
    assert len(over_otlp) == 16
    assert over_otlp == in_file


def test_traces_exporter_variable_and_sampler(
    otlp_receiver: Any, util: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{otlp_receiver.http_port}")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")  # decides over the endpoint
    tel = agentwatch.configure()
    assert tel.exporters == ("none",)
    agentwatch.shutdown()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    tel = agentwatch.configure()
    work = util.run_workload(tel.recorder, runs=2)
    # Sampled out: no span leaves, but the metrics still count every call.
    assert tel.registry.get_sample_value(
        "agentwatch_llm_calls_total",
        {"provider": "openai", "model": "gpt-4o-mini", "operation": "chat", "outcome": "ok"}) == 2
    agentwatch.shutdown()
    assert otlp_receiver.spans() == []
    assert len(work.calls) == 8


def test_sdk_disabled(otlp_receiver: Any, util: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{otlp_receiver.http_port}")
    tel = agentwatch.configure()
    util.run_workload(tel.recorder, runs=1)
    agentwatch.shutdown()
    assert tel.exporters == ()
    assert otlp_receiver.spans() == []
    assert not (tmp_path / ".agentwatch").exists()


def _run_script(tmp_path: Path, code: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    import os

    full_env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    full_env.update(env or {})
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path, env=full_env,
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_application_provider_is_adopted_without_adding_exporters(tmp_path: Path) -> None:
    """The application set its own global TracerProvider first: agentwatch uses it as it is."""
    result = _run_script(tmp_path, """
        import json, logging
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        logs = []
        class Keep(logging.Handler):
            def emit(self, record): logs.append(record.getMessage())
        logging.getLogger("agentwatch").addHandler(Keep())
        logging.getLogger("agentwatch").setLevel(logging.DEBUG)
        app_exporter = InMemorySpanExporter()
        app = TracerProvider()
        app.add_span_processor(SimpleSpanProcessor(app_exporter))
        trace.set_tracer_provider(app)
        import agentwatch
        tel = agentwatch.configure()
        @agentwatch.track_inference(provider="openai", model="gpt-4o")
        def ask():
            agentwatch.current_call().record_usage(input_tokens=10, output_tokens=2)
        with trace.get_tracer("app").start_as_current_span("POST /ask"):
            ask()
        agentwatch.shutdown()
        spans = app_exporter.get_finished_spans()
        print(json.dumps({
            "same": tel.tracer_provider is app, "owns": tel.owns_tracer_provider,
            "exporters": list(tel.exporters),
            "processors": len(app._active_span_processor._span_processors),
            "names": sorted(s.name for s in spans),
            "parented": spans[0].parent.span_id == spans[1].context.span_id,
            "log": [m for m in logs if "TracerProvider" in m],
            "still_global": trace.get_tracer_provider() is app,
        }))
    """)
    assert result["same"] and result["still_global"]
    assert result["owns"] is False and result["exporters"] == []
    assert result["processors"] == 1  # nothing added to the application's provider
    assert result["names"] == ["POST /ask", "chat gpt-4o"] and result["parented"]
    assert result["log"] and "using it and adding no exporter" in result["log"][0]
    assert not (tmp_path / ".agentwatch").exists()


def test_configure_again_keeps_application_spans_flowing(tmp_path: Path) -> None:
    """agentwatch installs the global provider once; each configure() re-points it, shutdown() stops it."""
    result = _run_script(tmp_path, """
        import json
        from opentelemetry import trace
        import agentwatch
        app_tracer = trace.get_tracer("app")  # taken before configure(), like a module-level tracer
        for n in (1, 2):
            agentwatch.configure(spans_file=f"run{n}.jsonl")
            with app_tracer.start_as_current_span(f"app span {n}"):
                with agentwatch.stage(f"stage {n}"):
                    pass
            agentwatch.shutdown()
        with app_tracer.start_as_current_span("after shutdown"):
            pass
        def names(path):
            return sorted(s["name"] for line in open(path) for rs in json.loads(line)["resourceSpans"]
                          for ss in rs["scopeSpans"] for s in ss["spans"])
        print(json.dumps({"run1": names("run1.jsonl"), "run2": names("run2.jsonl")}))
    """)
    assert result == {"run1": ["app span 1", "stage 1"], "run2": ["app span 2", "stage 2"]}
