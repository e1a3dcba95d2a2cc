"""Helpers for the demo and bench tests: read span files and price usage independently.

The prices below are the providers' published list prices in USD per million tokens, written here
by hand, so the tests check agentwatch's pricing instead of repeating it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
APPLICATIONS = REPO / "examples" / "job_copilot" / "data" / "applications.jsonl"
COMMITTED = REPO / "benchmarks" / "cost" / "results" / "results.json"
#: the price source of the installed genai-prices data, whichever release that is
GENAI_PRICES = f"genai-prices {version('genai-prices')}"

ADAPTERS = ("agentwatch_langgraph", "agentwatch_openai", "agentwatch_anthropic")


def require_adapters() -> None:
    """Skip the module unless the adapters the job-copilot example uses are installed."""
    for adapter in ADAPTERS:
        pytest.importorskip(
            adapter, reason="the job-copilot example needs the LangGraph, OpenAI and Anthropic adapters"
        )


# USD per 1M tokens: input (uncached), cache read, cache write (5 minutes), output.
PUBLISHED = {
    "gpt-4o": {"input": 2.50, "cache_read": 1.25, "cache_write": 2.50, "output": 10.00},
    "gpt-4o-mini": {"input": 0.15, "cache_read": 0.075, "cache_write": 0.15, "output": 0.60},
    "o4-mini": {"input": 1.10, "cache_read": 0.275, "cache_write": 1.10, "output": 4.40},
    "claude-haiku-4-5": {"input": 1.00, "cache_read": 0.10, "cache_write": 1.25, "output": 5.00},
    "text-embedding-3-small": {"input": 0.02, "cache_read": 0.02, "cache_write": 0.02, "output": 0.0},
}
_DATED = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8})$")


@dataclass(frozen=True)
class Span:
    trace: str
    span: str
    parent: str | None
    name: str
    scope: str
    attrs: dict[str, Any]


def _value(v: dict[str, Any]) -> Any:
    if "intValue" in v:
        return int(v["intValue"])
    if "doubleValue" in v:
        return float(v["doubleValue"])
    if "boolValue" in v:
        return bool(v["boolValue"])
    if "stringValue" in v:
        return v["stringValue"]
    if "arrayValue" in v:
        return [_value(x) for x in v["arrayValue"].get("values", [])]
    return None


def read_spans(path: Path) -> list[Span]:
    """Every span of an OTLP/JSON lines file."""
    spans = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        for rs in json.loads(line)["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                for s in ss["spans"]:
                    spans.append(
                        Span(
                            trace=s["traceId"],
                            span=s["spanId"],
                            parent=s.get("parentSpanId") or None,
                            name=s["name"],
                            scope=ss.get("scope", {}).get("name", ""),
                            attrs={a["key"]: _value(a["value"]) for a in s.get("attributes", [])},
                        )
                    )
    return spans


def model_calls(spans: list[Span]) -> list[Span]:
    """agentwatch's model-call spans that carry usage."""
    return [
        s
        for s in spans
        if s.scope == "agentwatch"
        and "gen_ai.usage.input_tokens" in s.attrs
        and s.attrs.get("gen_ai.operation.name") in ("chat", "embeddings")
    ]


def price_key(model: str) -> str:
    return _DATED.sub("", model)


def published_cost(model: str, attrs: dict[str, Any]) -> float:
    """USD for one call's recorded usage at ``model``'s published prices."""
    p = PUBLISHED[price_key(model)]
    inp = attrs["gen_ai.usage.input_tokens"]
    cr = attrs.get("gen_ai.usage.cache_read.input_tokens", 0)
    cw = attrs.get("gen_ai.usage.cache_creation.input_tokens", 0)
    out = attrs["gen_ai.usage.output_tokens"]
    return (
        (inp - cr - cw) * p["input"] + cr * p["cache_read"] + cw * p["cache_write"] + out * p["output"]
    ) / 1e6


def stage_of(span: Span, by_id: dict[str, Span]) -> str:
    parent = by_id.get(span.parent) if span.parent else None
    while parent is not None:
        if "agentwatch.stage.name" in parent.attrs:
            return str(parent.attrs["agentwatch.stage.name"])
        parent = by_id.get(parent.parent) if parent.parent else None
    return "(no stage)"
