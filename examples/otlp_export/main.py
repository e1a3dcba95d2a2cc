"""Send agentwatch spans over OTLP to Arize Phoenix, an OpenTelemetry Collector or any OTLP backend.

    phoenix serve &                                                   # UI and OTLP on :6006
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:6006 python examples/otlp_export/main.py
    OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318 python examples/otlp_export/main.py
    OTEL_EXPORTER_OTLP_PROTOCOL=grpc OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 python ...

A two-node LangGraph graph (an OpenAI draft, an Anthropic review) runs with the agentwatch callback
handler and instrumented clients, so the backend receives one trace: ``invoke_workflow`` > one
stage span per node > the ``chat`` spans with tokens and cost. Nothing here is OTLP-specific:
``configure()`` picks the OTLP exporter because ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, and the
other standard variables (``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_RESOURCE_ATTRIBUTES``, ...) work as
the OpenTelemetry SDK defines them. Phoenix files the trace under the project named by the resource
attribute ``openinference.project.name`` (default here: ``agentwatch-example``). Without API keys
the models are agentwatch's bundled fake provider on 127.0.0.1.
"""

from __future__ import annotations

import os
from typing import TypedDict

import anthropic
import openai
from langgraph.graph import END, START, StateGraph
from opentelemetry import trace

import agentwatch
import agentwatch_anthropic
import agentwatch_openai
from agentwatch.fake_provider.offline import unless_keys
from agentwatch_langgraph import CallbackHandler


class State(TypedDict, total=False):
    posting: str
    draft: str
    review: str


def build(oai: openai.OpenAI, claude: anthropic.Anthropic) -> object:
    def draft(state: State) -> State:
        reply = oai.chat.completions.create(model="gpt-4o-mini", messages=[
            {"role": "user", "content": f"Draft a two-line cover letter opening for: {state['posting']}"}])
        return {"draft": reply.choices[0].message.content or ""}

    def review(state: State) -> State:
        reply = claude.messages.create(model="claude-haiku-4-5", max_tokens=200, messages=[
            {"role": "user", "content": f"Tighten this opening:\n{state['draft']}"}])
        return {"review": "".join(block.text for block in reply.content if block.type == "text")}

    graph = StateGraph(State)
    graph.add_node("draft", draft)
    graph.add_node("review", review)
    graph.add_edge(START, "draft")
    graph.add_edge("draft", "review")
    graph.add_edge("review", END)
    return graph.compile()


def main() -> None:
    os.environ.setdefault("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:6006")  # Phoenix's default
    os.environ.setdefault("OTEL_RESOURCE_ATTRIBUTES", "openinference.project.name=agentwatch-example")
    tel = agentwatch.configure(service_name="otlp-export-example")  # exporters: ("otlp",) from the env
    oai = agentwatch_openai.instrument(openai.OpenAI())
    claude = agentwatch_anthropic.instrument(anthropic.Anthropic())
    graph = build(oai, claude)

    tracer = trace.get_tracer("otlp-export-example")
    with tracer.start_as_current_span("cover-letter-request") as root:  # your own span: the trace root
        result = graph.invoke({"posting": "Senior data engineer, Kafka and dbt"},  # type: ignore[attr-defined]
                              config={"callbacks": [CallbackHandler(graph_name="cover_letter")]})
        trace_id = f"{root.get_span_context().trace_id:032x}"
    print(result["review"][:160])
    tel.force_flush()
    exported = tel.registry.get_sample_value("agentwatch_spans_exported_total") or 0
    print(f"exported {exported:.0f} spans of trace {trace_id} to {os.environ['OTEL_EXPORTER_OTLP_ENDPOINT']}")
    agentwatch.shutdown()


if __name__ == "__main__":
    with unless_keys("openai", "anthropic"):  # a key not set: that provider is the bundled fake one
        main()
