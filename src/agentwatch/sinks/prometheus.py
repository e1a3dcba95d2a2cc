"""Prometheus metrics from completed records (prometheus-client, injectable registry).

Hot-path notes: labelled children are cached per label tuple, label values pass through a
:class:`~agentwatch.labels.LabelGuard` (bounded cardinality), and each sample carries the
``trace_id`` of its span as an exemplar (served in the OpenMetrics format).
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from agentwatch import delivery, errors, forking, names
from agentwatch.labels import LabelGuard
from agentwatch.records import Completed, Inference, Stage, ToolCall, VectorSearch, Workflow

ModelLabel = Callable[[str | None, str], str]
_EXEMPLAR_EVERY_NS = 1_000_000_000


def _identity_model(provider: str | None, model: str) -> str:
    return model


class _Family:
    """A metric plus a cache of its labelled children."""

    __slots__ = ("buckets", "children", "exemplar_ns", "metric")

    def __init__(self, metric: Counter | Histogram, buckets: Sequence[float] = ()) -> None:
        self.metric = metric
        self.buckets = tuple(buckets)
        self.children: dict[tuple[str, ...], Any] = {}
        self.exemplar_ns: dict[Any, int] = {}

    def child(self, values: tuple[str, ...]) -> Any:
        child = self.children.get(values)
        if child is None:
            child = self.metric.labels(*values) if values else self.metric
            self.children[values] = child
        return child

    def inc(self, values: tuple[str, ...], amount: float, trace_id: int, now_ns: int) -> None:
        """Add ``amount``; a counter's exemplar is refreshed at most once a second per series (only the
        latest one is ever exposed, and validating one costs more than the increment itself)."""
        child = self.children.get(values)
        if child is None:
            child = self.child(values)
        if trace_id and now_ns - self.exemplar_ns.get(values, 0) >= _EXEMPLAR_EVERY_NS:
            self.exemplar_ns[values] = now_ns
            child.inc(amount, {"trace_id": format(trace_id, "032x")})
        else:
            child.inc(amount)

    def observe(self, values: tuple[str, ...], amount: float, trace_id: int, now_ns: int) -> None:
        """Observe ``amount``; each bucket's exemplar is refreshed at most once a second per series."""
        child = self.children.get(values)
        if child is None:
            child = self.child(values)
        if trace_id:
            key = (values, bisect_left(self.buckets, amount))
            if now_ns - self.exemplar_ns.get(key, 0) >= _EXEMPLAR_EVERY_NS:
                self.exemplar_ns[key] = now_ns
                child.observe(amount, {"trace_id": format(trace_id, "032x")})
                return
        child.observe(amount)

    def reset(self) -> None:
        self.children = {}
        self.exemplar_ns = {}
        metric: Any = self.metric
        if hasattr(metric, "_lock"):
            metric._lock = threading.Lock()
        if metric._labelnames:
            metric.clear()
        else:  # an unlabelled metric: a new value holder
            metric._metric_init()


class PrometheusSink:
    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        namespace: str = names.DEFAULT_NAMESPACE,
        max_label_values: int = 200,
        exemplars: bool = True,
        model_label: ModelLabel | None = None,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.namespace = namespace
        self.exemplars = exemplars
        self.model_label = model_label or _identity_model
        ns = namespace
        reg = self.registry

        def counter(name: str, doc: str, labels: Sequence[str]) -> _Family:
            return _Family(Counter(f"{ns}_{name}", doc, labels, registry=reg))

        def histogram(name: str, doc: str, labels: Sequence[str], buckets: Sequence[float]) -> _Family:
            return _Family(Histogram(f"{ns}_{name}", doc, labels, buckets=buckets, registry=reg), buckets)

        self.overflow = counter(
            names.M_LABEL_OVERFLOW, "Label values folded into 'other' by the cardinality limit.", ["label"]
        )
        self._guards: dict[str, LabelGuard] = {}
        self.max_label_values = max_label_values
        for label in ("provider", "model", "operation", "error_type", "graph", "stage", "db",
                      "collection", "tool", "component"):
            self._guards[label] = LabelGuard(label, max_label_values, self._count_overflow)

        self.llm_calls = counter(names.M_LLM_CALLS, "Model calls (chat, completion, embeddings).",
                                 ["provider", "model", "operation", "outcome"])
        self.llm_tokens = counter(names.M_LLM_TOKENS, "Tokens used by model calls, by type.",
                                  ["provider", "model", "operation", "type"])
        self.llm_cost = counter(names.M_LLM_COST, "Estimated cost of model calls in US dollars.",
                                ["provider", "model", "operation"])
        self.llm_duration = histogram(names.M_LLM_DURATION, "Duration of model calls.",
                                      ["provider", "model", "operation"], names.DURATION_BUCKETS)
        self.llm_ttft = histogram(names.M_LLM_TTFT, "Time to the first chunk of streamed model calls.",
                                  ["provider", "model"], names.DURATION_BUCKETS)
        self.llm_errors = counter(names.M_LLM_ERRORS, "Failed model calls, by error type.",
                                  ["provider", "model", "error_type"])
        self.unpriced = counter(names.M_UNPRICED, "Model calls with usage but no known price.",
                                ["provider", "model"])
        self.stage_runs = counter(names.M_STAGE_RUNS, "Stage (graph node) runs, by outcome.",
                                  ["graph", "stage", "outcome"])
        self.stage_duration = histogram(names.M_STAGE_DURATION, "Duration of stage runs.",
                                        ["graph", "stage"], names.DURATION_BUCKETS)
        self.stage_cost = counter(names.M_STAGE_COST, "Estimated cost of the model calls inside stages.",
                                  ["graph", "stage"])
        self.stage_tokens = counter(names.M_STAGE_TOKENS,
                                    "Tokens used by the model calls inside stages, by type.",
                                    ["graph", "stage", "type"])
        self.workflow_runs = counter("workflow_runs", "Whole graph (workflow) runs, by outcome.",
                                     ["graph", "outcome"])
        self.workflow_duration = histogram("workflow_duration_seconds", "Duration of whole graph runs.",
                                           ["graph"], names.DURATION_BUCKETS)
        self.workflow_cost = counter("workflow_cost_usd", "Estimated cost of whole graph runs.", ["graph"])
        self.vector_duration = histogram(names.M_VECTOR_DURATION, "Duration of vector searches.",
                                         ["db", "collection"], names.FAST_DURATION_BUCKETS)
        self.vector_results = histogram(names.M_VECTOR_RESULTS, "Documents returned per vector search.",
                                        ["db", "collection"], names.RESULT_COUNT_BUCKETS)
        self.tool_calls = counter(names.M_TOOL_CALLS, "Tool executions, by outcome.", ["tool", "outcome"])
        self.tool_duration = histogram(names.M_TOOL_DURATION, "Duration of tool executions.", ["tool"],
                                       names.FAST_DURATION_BUCKETS)
        self.internal_errors = counter(names.M_INTERNAL_ERRORS,
                                       "Errors inside agentwatch (caught; the application went on).",
                                       ["component"])
        errors.add_listener(self.on_internal_error)
        self.spans_dropped = counter(names.M_SPANS_DROPPED,
                                     "Spans that never reached the trace backend (queue full, export failed, "
                                     "shutdown).", ["reason"])
        self.spans_exported = counter(names.M_SPANS_EXPORTED, "Spans the trace exporter accepted.", [])
        delivery.add_listener(self.on_delivery)
        forking.register(self._after_fork)

    def close(self) -> None:
        errors.remove_listener(self.on_internal_error)
        delivery.remove_listener(self.on_delivery)

    def on_delivery(self, event: str, reason: str, count: int) -> None:
        if event == "exported":
            self.spans_exported.child(()).inc(count)
        else:
            self.spans_dropped.child((reason,)).inc(count)

    def _after_fork(self) -> None:
        """In a forked worker: start every metric from zero with fresh locks (the parent's values
        stay the parent's; a lock another thread held at the fork would stay held forever)."""
        for family in vars(self).values():
            if isinstance(family, _Family):
                family.reset()
        for guard in self._guards.values():
            guard.after_fork()

    def _count_overflow(self, label: str) -> None:
        self.overflow.child((label,)).inc()

    def on_internal_error(self, component: str) -> None:
        self.internal_errors.child((self._guards["component"](component),)).inc()

    def on_completed(self, c: Completed) -> None:
        ex = c.trace_id if self.exemplars else 0  # exemplar: the span's trace id
        record = c.record
        g = self._guards
        now = c.end_ns
        if isinstance(record, Inference):
            provider = g["provider"](record.provider)
            model = g["model"](self.model_label(record.provider, c.response_model or record.model))
            op = g["operation"](record.operation)
            self.llm_calls.inc((provider, model, op, c.outcome), 1, ex, now)
            self.llm_duration.observe((provider, model, op), c.duration_s, ex, now)
            if c.time_to_first_chunk_s is not None:
                self.llm_ttft.observe((provider, model), c.time_to_first_chunk_s, ex, now)
            usage = c.usage
            if usage is not None:
                tokens = self.llm_tokens
                tokens.inc((provider, model, op, names.TOKEN_INPUT), usage.input_tokens, ex, now)
                tokens.inc((provider, model, op, names.TOKEN_OUTPUT), usage.output_tokens, ex, now)
                if usage.cache_read_tokens:
                    tokens.inc((provider, model, op, names.TOKEN_CACHE_READ), usage.cache_read_tokens,
                               ex, now)
                if usage.cache_write_tokens:
                    tokens.inc((provider, model, op, names.TOKEN_CACHE_WRITE), usage.cache_write_tokens,
                               ex, now)
                if usage.reasoning_tokens:
                    tokens.inc((provider, model, op, names.TOKEN_REASONING), usage.reasoning_tokens, ex, now)
                if c.cost is not None:
                    self.llm_cost.inc((provider, model, op), c.cost.total, ex, now)
                else:
                    self.unpriced.inc((provider, model), 1, ex, now)
            if c.outcome == names.OUTCOME_ERROR:
                self.llm_errors.inc((provider, model, g["error_type"](c.error_type)), 1, ex, now)
        elif isinstance(record, Stage):
            graph = g["graph"](c.graph) if c.graph else ""
            stage = g["stage"](record.name)
            self.stage_runs.inc((graph, stage, c.outcome), 1, ex, now)
            self.stage_duration.observe((graph, stage), c.duration_s, ex, now)
            if c.rollup is not None and c.rollup.cost_usd:
                self.stage_cost.inc((graph, stage), c.rollup.cost_usd, ex, now)
            if c.rollup is not None and c.rollup.input_tokens:
                self.stage_tokens.inc((graph, stage, names.TOKEN_INPUT), c.rollup.input_tokens, ex, now)
            if c.rollup is not None and c.rollup.output_tokens:
                self.stage_tokens.inc((graph, stage, names.TOKEN_OUTPUT), c.rollup.output_tokens, ex, now)
        elif isinstance(record, Workflow):
            graph = g["graph"](record.name)
            self.workflow_runs.inc((graph, c.outcome), 1, ex, now)
            self.workflow_duration.observe((graph,), c.duration_s, ex, now)
            if c.rollup is not None and c.rollup.cost_usd:
                self.workflow_cost.inc((graph,), c.rollup.cost_usd, ex, now)
        elif isinstance(record, VectorSearch):
            key = (g["db"](record.db), g["collection"](record.collection))
            self.vector_duration.observe(key, c.duration_s, ex, now)
            if c.returned is not None:
                self.vector_results.observe(key, c.returned, ex, now)
        elif isinstance(record, ToolCall):
            tool = g["tool"](record.name)
            self.tool_calls.inc((tool, c.outcome), 1, ex, now)
            self.tool_duration.observe((tool,), c.duration_s, ex, now)
