"""Aggregate spans into a :class:`Summary`: per graph, stage, provider and model.

What is counted where:

* **models / providers**: model-call spans (chat, completions, embeddings: a span with a request or
  response model whose ``gen_ai.operation.name`` is not an agent, workflow, tool or retrieval
  operation). Calls, errors (status ERROR or ``error.type``), input / output / cache-read tokens,
  ``agentwatch.cost.usd``, calls with usage but no cost (``unpriced``), latency.
* **stages**: spans with ``agentwatch.stage.name``, keyed by (graph, stage): runs, errors
  (``agentwatch.stage.outcome`` = error), tokens, cost and model calls from their
  ``agentwatch.rollup.*`` attributes (everything below the stage), latency.
* **graphs**: workflow spans (``invoke_workflow``), the same way.

Cache-read tokens are not part of the rollup attributes: they are carried up from each model call
to its ancestors as the spans stream by (children end, and are written, before their parents). The
carry map is bounded; what falls out of it before its parent arrives is counted in
``Summary.unattributed_cached_tokens``.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from agentwatch import names
from agentwatch.report._quantiles import Quantiles
from agentwatch.report._read import SpanView

#: at most this many rows per table; later keys are folded into an ``other`` row
MAX_GROUPS = 2000
#: at most this many spans waiting to hand cache-read tokens to a parent not seen yet
MAX_PENDING = 100_000

_NOT_MODEL_CALLS = frozenset({
    names.OP_INVOKE_AGENT, names.OP_INVOKE_WORKFLOW, names.OP_EXECUTE_TOOL, names.OP_RETRIEVAL,
    "create_agent",
})
_LEGACY_PROVIDER = "gen_ai.system"
_LEGACY_INPUT = "gen_ai.usage.prompt_tokens"
_LEGACY_OUTPUT = "gen_ai.usage.completion_tokens"

#: the span attributes the report reads (the reader decodes only these)
KEYS = frozenset({
    names.GEN_AI_OPERATION_NAME, names.GEN_AI_PROVIDER_NAME, _LEGACY_PROVIDER, names.GEN_AI_REQUEST_MODEL,
    names.GEN_AI_RESPONSE_MODEL, names.GEN_AI_USAGE_INPUT_TOKENS, names.GEN_AI_USAGE_OUTPUT_TOKENS,
    _LEGACY_INPUT, _LEGACY_OUTPUT, names.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, names.COST_USD,
    names.ERROR_TYPE, names.STAGE_NAME, names.STAGE_OUTCOME, names.GRAPH_NAME, names.GEN_AI_WORKFLOW_NAME,
    names.ROLLUP_INPUT_TOKENS, names.ROLLUP_OUTPUT_TOKENS, names.ROLLUP_LLM_CALLS, names.ROLLUP_COST_USD,
})


@dataclass(frozen=True)
class Group:
    """One row of the report. ``calls`` counts model calls, or runs for graphs and stages."""

    graph: str | None = None
    stage: str | None = None
    provider: str | None = None
    model: str | None = None
    calls: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float = 0.0
    #: model calls that reported usage but carry no cost (no known price)
    unpriced: int = 0
    #: model calls below a graph or stage run (from the rollup); equals ``calls`` for models
    llm_calls: int = 0
    p50_s: float | None = None
    p95_s: float | None = None

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0

    @property
    def mean_cost_usd(self) -> float:
        """Cost per call (per run for graphs and stages)."""
        return self.cost_usd / self.calls if self.calls else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None or k in ("p50_s", "p95_s")}


@dataclass(frozen=True)
class Summary:
    """Everything ``agentwatch report`` prints, as data (``to_dict()`` is what ``--json`` prints)."""

    graphs: tuple[Group, ...]
    stages: tuple[Group, ...]
    providers: tuple[Group, ...]
    models: tuple[Group, ...]
    #: all model calls together
    total: Group
    spans: int
    #: root spans seen (one per trace whose root was read)
    traces: int
    first_start_ns: int | None
    last_end_ns: int | None
    files: tuple[str, ...] = ()
    bytes_read: int = 0
    bad_lines: int = 0
    unattributed_cached_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "spans": self.spans,
            "traces": self.traces,
            "first_start_ns": self.first_start_ns,
            "last_end_ns": self.last_end_ns,
            "files": list(self.files),
            "bytes_read": self.bytes_read,
            "bad_lines": self.bad_lines,
            "unattributed_cached_tokens": self.unattributed_cached_tokens,
            "total": self.total.to_dict(),
            "graphs": [g.to_dict() for g in self.graphs],
            "stages": [g.to_dict() for g in self.stages],
            "providers": [g.to_dict() for g in self.providers],
            "models": [g.to_dict() for g in self.models],
        }


class _Acc:
    __slots__ = ("cached", "calls", "cost", "errors", "inp", "latency", "llm_calls", "out", "unpriced")

    def __init__(self) -> None:
        self.calls = self.errors = self.inp = self.out = self.cached = self.unpriced = self.llm_calls = 0
        self.cost = 0.0
        self.latency = Quantiles()

    def merge(self, other: _Acc) -> None:
        self.calls += other.calls
        self.errors += other.errors
        self.inp += other.inp
        self.out += other.out
        self.cached += other.cached
        self.unpriced += other.unpriced
        self.llm_calls += other.llm_calls
        self.cost += other.cost
        self.latency.merge(other.latency)

    def group(self, **keys: str | None) -> Group:
        return Group(
            **keys, calls=self.calls, errors=self.errors, input_tokens=self.inp, output_tokens=self.out,
            cached_tokens=self.cached, cost_usd=self.cost, unpriced=self.unpriced, llm_calls=self.llm_calls,
            p50_s=self.latency.quantile(0.50), p95_s=self.latency.quantile(0.95),
        )


class _Table:
    __slots__ = ("rows",)

    def __init__(self) -> None:
        self.rows: dict[tuple[str, ...], _Acc] = {}

    def get(self, key: tuple[str, ...]) -> _Acc:
        acc = self.rows.get(key)
        if acc is None:
            if len(self.rows) >= MAX_GROUPS:
                key = (names.OTHER_LABEL_VALUE,) * len(key)
                acc = self.rows.get(key)
            if acc is None:
                acc = self.rows[key] = _Acc()
        return acc


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    return 0


def _float(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


class Aggregator:
    """Feed it spans (:meth:`add`), then take the :meth:`summary`. Memory is bounded (see module doc)."""

    def __init__(self) -> None:
        self.graphs = _Table()
        self.stages = _Table()
        self.models = _Table()
        self.spans = 0
        self.traces = 0
        self.first_start_ns: int | None = None
        self.last_end_ns: int | None = None
        self._pending: OrderedDict[str, int] = OrderedDict()
        self.unattributed_cached = 0

    def add_all(self, spans: Iterable[SpanView]) -> None:
        for span in spans:
            self.add(span)

    def add(self, span: SpanView) -> None:
        self.spans += 1
        if not span.parent_span_id:
            self.traces += 1
        if span.start_ns and (self.first_start_ns is None or span.start_ns < self.first_start_ns):
            self.first_start_ns = span.start_ns
        if self.last_end_ns is None or span.end_ns > self.last_end_ns:
            self.last_end_ns = span.end_ns
        attrs = span.attributes
        duration = max(span.end_ns - span.start_ns, 0) / 1e9
        cached = self._pending.pop(span.span_id, 0) if self._pending else 0
        op = attrs.get(names.GEN_AI_OPERATION_NAME)
        stage = attrs.get(names.STAGE_NAME)
        if stage is not None:
            graph = str(attrs.get(names.GRAPH_NAME) or "")
            self._run(self.stages.get((graph, str(stage))), span, attrs, duration, cached)
        elif op == names.OP_INVOKE_WORKFLOW:
            graph = str(attrs.get(names.GRAPH_NAME) or attrs.get(names.GEN_AI_WORKFLOW_NAME) or span.name)
            self._run(self.graphs.get((graph,)), span, attrs, duration, cached)
        elif op not in _NOT_MODEL_CALLS:
            model = attrs.get(names.GEN_AI_RESPONSE_MODEL) or attrs.get(names.GEN_AI_REQUEST_MODEL)
            if model is not None:
                own = self._model_call(span, attrs, str(model), duration)
                cached += own
        if cached and span.parent_span_id:
            pending = self._pending
            pending[span.parent_span_id] = pending.get(span.parent_span_id, 0) + cached
            if len(pending) > MAX_PENDING:
                _, lost = pending.popitem(last=False)
                self.unattributed_cached += lost

    def _model_call(self, span: SpanView, attrs: Any, model: str, duration: float) -> int:
        provider = str(attrs.get(names.GEN_AI_PROVIDER_NAME) or attrs.get(_LEGACY_PROVIDER) or "")
        inp = attrs.get(names.GEN_AI_USAGE_INPUT_TOKENS, attrs.get(_LEGACY_INPUT))
        out = attrs.get(names.GEN_AI_USAGE_OUTPUT_TOKENS, attrs.get(_LEGACY_OUTPUT))
        cached = _int(attrs.get(names.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS))
        cost = _float(attrs.get(names.COST_USD))
        # Only the model row is kept; provider rows and the total are sums of model rows.
        acc = self.models.get((provider, model))
        acc.calls += 1
        acc.llm_calls += 1
        if span.status_code == 2 or names.ERROR_TYPE in attrs:
            acc.errors += 1
        acc.inp += _int(inp)
        acc.out += _int(out)
        acc.cached += cached
        if cost is not None:
            acc.cost += cost
        elif inp is not None or out is not None:
            acc.unpriced += 1
        acc.latency.add(duration)
        return cached

    @staticmethod
    def _run(acc: _Acc, span: SpanView, attrs: Any, duration: float, cached: int) -> None:
        acc.calls += 1
        if attrs.get(names.STAGE_OUTCOME) == names.OUTCOME_ERROR or (
            names.STAGE_OUTCOME not in attrs and span.status_code == 2
        ):
            acc.errors += 1
        acc.inp += _int(attrs.get(names.ROLLUP_INPUT_TOKENS))
        acc.out += _int(attrs.get(names.ROLLUP_OUTPUT_TOKENS))
        acc.llm_calls += _int(attrs.get(names.ROLLUP_LLM_CALLS))
        acc.cached += cached
        acc.cost += _float(attrs.get(names.ROLLUP_COST_USD)) or 0.0
        acc.latency.add(duration)

    def summary(self, *, files: Iterable[str] = (), bytes_read: int = 0, bad_lines: int = 0) -> Summary:
        def rows(table: _Table, fields: tuple[str, ...]) -> tuple[Group, ...]:
            out = [acc.group(**dict(zip(fields, key, strict=True))) for key, acc in table.rows.items()]
            out.sort(key=lambda g: (-g.cost_usd, -g.calls, tuple(getattr(g, f) or "" for f in fields)))
            return tuple(out)

        providers = _Table()
        total = _Acc()
        for (provider, _), acc in self.models.rows.items():
            providers.get((provider,)).merge(acc)
            total.merge(acc)
        return Summary(
            graphs=rows(self.graphs, ("graph",)),
            stages=rows(self.stages, ("graph", "stage")),
            providers=rows(providers, ("provider",)),
            models=rows(self.models, ("provider", "model")),
            total=total.group(),
            spans=self.spans,
            traces=self.traces,
            first_start_ns=self.first_start_ns,
            last_end_ns=self.last_end_ns,
            files=tuple(files),
            bytes_read=bytes_read,
            bad_lines=bad_lines,
            unattributed_cached_tokens=self.unattributed_cached,
        )
