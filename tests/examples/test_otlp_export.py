from __future__ import annotations

import re
from pathlib import Path

import pytest
from tests.export.conftest import OtlpReceiver, attrs_of

from ._run import list_price, run_example


# One protocol: the example is the same over gRPC (tests/export covers both transports), and each
# run pays for importing LangGraph and both SDKs.
@pytest.mark.parametrize("protocol", ["http/protobuf"])
def test_one_trace_reaches_the_otlp_endpoint(protocol: str, tmp_path: Path) -> None:
    receiver = OtlpReceiver().start()
    try:
        port = receiver.http_port if protocol == "http/protobuf" else receiver.grpc_port
        out = run_example("otlp_export/main.py", tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}",
                          OTEL_EXPORTER_OTLP_PROTOCOL=protocol)
        received = receiver.spans()
    finally:
        receiver.stop()
    printed = re.search(r"exported (\d+) spans of trace ([0-9a-f]{32}) to ", out)
    assert printed is not None
    assert {r.transport for r in receiver.received} == {protocol.split("/", maxsplit=1)[0]}

    spans = {s.name: (resource, s) for resource, s in received}
    assert sorted(spans) == sorted(["cover-letter-request", "invoke_workflow cover_letter", "draft", "review",
                                    "chat gpt-4o-mini", "chat claude-haiku-4-5"])
    assert int(printed.group(1)) == len(received)
    assert {s.trace_id.hex() for _, s in received} == {printed.group(2)}
    resource = attrs_of(spans["draft"][0].attributes)
    assert resource["service.name"] == "otlp-export-example"
    assert resource["openinference.project.name"] == "agentwatch-example"

    parent = {s.span_id: s.name for _, s in received}
    assert parent[spans["invoke_workflow cover_letter"][1].parent_span_id] == "cover-letter-request"
    assert parent[spans["draft"][1].parent_span_id] == "invoke_workflow cover_letter"
    assert parent[spans["chat gpt-4o-mini"][1].parent_span_id] == "draft"
    assert parent[spans["chat claude-haiku-4-5"][1].parent_span_id] == "review"

    costs = {}
    for name, provider, model in [("chat gpt-4o-mini", "openai", "gpt-4o-mini"),
                                  ("chat claude-haiku-4-5", "anthropic", "claude-haiku-4-5")]:
        a = attrs_of(spans[name][1].attributes)
        costs[name] = list_price(provider, model, {"input_tokens": a["gen_ai.usage.input_tokens"],
                                                   "output_tokens": a["gen_ai.usage.output_tokens"]})
        assert a["agentwatch.cost.usd"] == pytest.approx(costs[name], rel=1e-9)
    workflow = attrs_of(spans["invoke_workflow cover_letter"][1].attributes)
    assert workflow["agentwatch.rollup.cost.usd"] == pytest.approx(sum(costs.values()), rel=1e-9)
