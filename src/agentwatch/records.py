"""Neutral records of what happened: plain frozen data, no live spans, no framework objects.

An adapter (or a decorator) describes a call with one of the *start* records below and hands it to
the :class:`~agentwatch.recorder.Recorder`; when the call is over, the recorder turns what it
learned into a :class:`Completed` record that every sink reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from agentwatch import names
from agentwatch.cost import Cost
from agentwatch.usage import Usage

AttributeValue = str | bool | int | float | tuple[str, ...] | tuple[int, ...] | tuple[float, ...]

_EMPTY: Mapping[str, AttributeValue] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Inference:
    """A model call: chat, text completion, content generation, or embeddings."""

    provider: str
    model: str
    operation: str = names.OP_CHAT
    #: semconv request attributes (``gen_ai.request.temperature`` ...), already named
    request: Mapping[str, AttributeValue] = field(default_factory=lambda: _EMPTY)
    streaming: bool = False
    server_address: str | None = None
    server_port: int | None = None
    #: content; exported only when content capture is on
    input_messages: Any = None
    system_instructions: Any = None


@dataclass(frozen=True, slots=True)
class VectorSearch:
    """A similarity search against a vector store."""

    db: str
    collection: str
    top_k: int | None = None
    data_source_id: str | None = None
    server_address: str | None = None
    server_port: int | None = None
    operation: str | None = None  # db.operation.name, e.g. "SELECT"
    #: content; exported only when content capture is on
    query: Any = None


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool (function) execution."""

    name: str
    call_id: str | None = None
    description: str | None = None
    tool_type: str = "function"
    #: content; exported only when content capture is on
    arguments: Any = None


@dataclass(frozen=True, slots=True)
class Stage:
    """A named step of an agent: a decorated stage or a graph node."""

    name: str
    graph: str | None = None
    step: int | None = None
    attempt: int | None = None
    agent: bool = False


@dataclass(frozen=True, slots=True)
class SpanRef:
    """A pointer to another span (for links), as plain integers."""

    trace_id: int
    span_id: int


@dataclass(frozen=True, slots=True)
class Workflow:
    """One run of a whole graph / workflow."""

    name: str
    conversation_id: str | None = None
    links: tuple[SpanRef, ...] = ()


Record = Inference | VectorSearch | ToolCall | Stage | Workflow


@dataclass(slots=True)
class Rollup:
    """Exact sums over every model call below a stage or workflow.

    Read-only by contract, like :class:`Completed` (one is made per stage and workflow run).
    """

    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    llm_calls: int = 0
    unpriced_calls: int = 0


@dataclass(slots=True)
class Completed:
    """What a finished call amounts to: the start record plus everything learned until its end.

    Read-only by contract (sinks never change it); not a frozen dataclass only because one is made
    per call and a frozen one costs three times as much to build.
    """

    record: Record
    outcome: str
    duration_s: float
    start_ns: int
    end_ns: int
    trace_id: int = 0
    span_id: int = 0
    error_type: str | None = None
    usage: Usage | None = None
    cost: Cost | None = None
    response_model: str | None = None
    time_to_first_chunk_s: float | None = None
    returned: int | None = None
    rollup: Rollup | None = None
    #: the graph a stage belongs to (label for stage metrics)
    graph: str | None = None
