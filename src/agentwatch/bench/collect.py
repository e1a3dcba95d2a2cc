"""Turn what the recorder completed into per-run facts: which model calls each run made, in which stage.

The recorder's :class:`~agentwatch.records.Completed` records carry the exact usage, response
model and outcome of every call; the spans carry who is whose parent. Joined, each model call gets
its run (the trace it belongs to) and its stage (the nearest enclosing stage or graph node).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from agentwatch import names
from agentwatch.records import Completed, Inference, Stage
from agentwatch.usage import Usage

#: the stage of a model call that no stage encloses
NO_STAGE = "(no stage)"


@dataclass(frozen=True, slots=True)
class CallFact:
    """One model call (chat, completion or embeddings) of one run."""

    run: int
    stage: str
    provider: str
    model: str
    operation: str
    usage: Usage | None
    outcome: str
    duration_s: float
    start_ns: int


@dataclass(frozen=True, slots=True)
class StageFact:
    """One execution (attempt) of a stage in one run."""

    run: int
    stage: str
    outcome: str
    duration_s: float


@dataclass(frozen=True, slots=True)
class RunFact:
    """One call of the workload on one input."""

    index: int
    input_index: int
    repeat: int
    outcome: str
    duration_s: float
    error_type: str | None = None


@dataclass
class Collected:
    runs: list[RunFact] = field(default_factory=list)
    calls: list[CallFact] = field(default_factory=list)
    stages: list[StageFact] = field(default_factory=list)
    #: model calls that belong to no run (made outside the measured calls, e.g. at import time)
    stray_calls: int = 0


def collect(
    completed: Iterable[Completed],
    parents: Mapping[int, int | None],
    run_of_trace: Mapping[int, int],
    runs: Iterable[RunFact] = (),
) -> Collected:
    """Attribute every completed model call and stage to its run and stage.

    ``parents`` maps a span id to its parent's span id; ``run_of_trace`` maps a trace id to the
    run that produced it.
    """
    items = sorted(completed, key=lambda c: (c.start_ns, c.span_id))
    stage_of_span = {c.span_id: c.record.name for c in items if isinstance(c.record, Stage)}
    out = Collected(runs=sorted(runs, key=lambda r: r.index))

    def enclosing_stage(span_id: int) -> str:
        seen = 0
        parent = parents.get(span_id)
        while parent is not None and seen < 1000:
            name = stage_of_span.get(parent)
            if name is not None:
                return name
            parent = parents.get(parent)
            seen += 1
        return NO_STAGE

    for c in items:
        record = c.record
        run = run_of_trace.get(c.trace_id)
        if isinstance(record, Inference):
            if run is None:
                out.stray_calls += 1
                continue
            out.calls.append(
                CallFact(
                    run=run,
                    stage=enclosing_stage(c.span_id),
                    provider=record.provider,
                    model=c.response_model or record.model,
                    operation=record.operation,
                    usage=c.usage,
                    outcome=c.outcome,
                    duration_s=c.duration_s,
                    start_ns=c.start_ns,
                )
            )
        elif isinstance(record, Stage) and run is not None:
            out.stages.append(
                StageFact(run=run, stage=record.name, outcome=c.outcome, duration_s=c.duration_s)
            )
    return out


def is_chat(call: CallFact) -> bool:
    """Calls a different model could have made (everything but embeddings)."""
    return call.operation != names.OP_EMBEDDINGS
