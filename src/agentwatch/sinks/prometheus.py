"""Prometheus metrics from completed records (prometheus-client, injectable registry).

Hot-path notes: labelled children are cached per label tuple, label values pass through a
:class:`~agentwatch.labels.LabelGuard` (bounded cardinality), and each sample carries the
``trace_id`` of its span as an exemplar (served in the OpenMetrics format).

Batching: a completed record is queued, and applied to the metrics with the others in its batch
(every :data:`BATCH_SIZE` records, and before any of these metrics is collected: a scrape, a
``get_sample_value``, a push always sees every record completed before it). One batch runs the same
updates as many single records, but back to back: next to a model call or a graph run, a single
record's updates mostly wait for memory the call pushed out of the processor's caches. In
prometheus-client's multiprocess mode, where a scrape reads every worker's files without asking the
worker, records are applied at once.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry

from agentwatch import completion_queue, delivery, errors, forking, names
from agentwatch.labels import LabelGuard
from agentwatch.records import Completed, Inference, Stage, ToolCall, VectorSearch, Workflow
from agentwatch.sinks.prometheus_families import BatchedCounter, BatchedHistogram, Family, in_process_values

ModelLabel = Callable[[str | None, str], str]
#: completed records applied together (a scrape applies the ones waiting, however few): the call
#: that completes a batch applies it, about 2 µs a record; past 64, records apply no faster
BATCH_SIZE = 64


def _identity_model(provider: str | None, model: str) -> str:
    return model


class _LlmSeries:
    """The label children of one (provider, model, operation), resolved once: a model call then
    costs a dict lookup instead of a label guard, a tuple and a lookup per metric it updates."""

    __slots__ = ("cost", "duration", "folded", "labels", "runs", "tokens", "ttft", "unpriced")

    def __init__(self, labels: tuple[str, str, str]) -> None:
        # Children are made on first use only: a labelled child is exported (as 0) once it exists.
        self.labels = labels
        self.duration: Any = None
        self.cost: Any = None
        self.unpriced: Any = None
        self.ttft: Any = None
        self.runs: dict[str, Any] = {}  # by outcome
        self.tokens: dict[str, Any] = {}
        #: labels whose value the cardinality limit folded into "other" (counted again on each use)
        self.folded: tuple[str, ...] = ()


class _GraphSeries:
    """The label children of one stage (graph, stage) or one workflow (graph), resolved once, as
    :class:`_LlmSeries` does for models."""

    __slots__ = ("cost", "duration", "folded", "labels", "runs", "tokens")

    def __init__(self, labels: tuple[str, ...]) -> None:
        self.labels = labels
        self.duration: Any = None
        self.cost: Any = None
        self.runs: dict[str, Any] = {}
        self.tokens: dict[str, Any] = {}
        self.folded: tuple[str, ...] = ()


#: distinct (provider, model, operation), stages or workflows kept resolved; past this, records
#: resolve their labels each time
_MAX_SERIES = 4096


class PrometheusSink:
    #: records may arrive after their call ended, from any thread (see agentwatch.completion_queue)
    takes_late_records = True

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
        #: completed records not yet applied (appending to a deque is thread-safe without a lock)
        self._pending: deque[Completed] = deque()
        self._batched = in_process_values()
        # reentrant: nothing applying a batch should collect these metrics, but if it did (a logging
        # handler scraping the registry) it must not wait for itself
        self._apply_lock = threading.RLock()
        ns = namespace
        reg = self.registry

        def counter(name: str, doc: str, labels: Sequence[str], applied: bool = True) -> Family:
            """``applied``: updated only from completed records (False: also from other threads,
            through the client's locked methods)."""
            metric = BatchedCounter(f"{ns}_{name}", doc, labels, registry=reg)
            metric.before_collect = self.flush
            return Family(metric, batched=self._batched and applied)

        def histogram(name: str, doc: str, labels: Sequence[str], buckets: Sequence[float]) -> Family:
            metric = BatchedHistogram(f"{ns}_{name}", doc, labels, buckets=buckets, registry=reg)
            metric.before_collect = self.flush
            return Family(metric, buckets, batched=self._batched)

        self.overflow = counter(
            names.M_LABEL_OVERFLOW, "Label values folded into 'other' by the cardinality limit.", ["label"],
            applied=False,
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
                                       ["component"], applied=False)
        self._llm_series: dict[tuple[str, str, str], _LlmSeries] = {}
        self._stage_series: dict[tuple[str | None, str], _GraphSeries] = {}
        self._workflow_series: dict[str, _GraphSeries] = {}
        errors.add_listener(self.on_internal_error)
        self.spans_dropped = counter(names.M_SPANS_DROPPED,
                                     "Spans that never reached the trace backend (queue full, export failed, "
                                     "shutdown).", ["reason"], applied=False)
        self.spans_exported = counter(names.M_SPANS_EXPORTED, "Spans the trace exporter accepted.", [],
                                      applied=False)
        delivery.add_listener(self.on_delivery)
        forking.register(self._after_fork)

    def close(self) -> None:
        self.flush()
        errors.remove_listener(self.on_internal_error)
        delivery.remove_listener(self.on_delivery)

    def on_completed(self, c: Completed) -> None:
        """Queue ``c``; every :data:`BATCH_SIZE` records, apply the batch."""
        if not self._batched:
            self._apply(c)
            return
        pending = self._pending
        pending.append(c)
        if len(pending) >= BATCH_SIZE:
            self.apply_waiting()

    def flush(self) -> None:
        """Apply every waiting record (a collection calls this first), the records of calls still
        waiting to be completed included. Never raises."""
        completion_queue.flush_all()
        if self._pending:
            with self._apply_lock:
                self._apply_pending()

    def apply_waiting(self) -> None:
        """Apply the records waiting now, unless another thread is applying them: that thread takes
        them too, nobody waits here. Called when the sink's own batch is full, and by the recorder
        after each batch of completed calls, so no record outlives its batch (one kept longer would
        reach the collector's older generations, and make full collections come sooner)."""
        if self._pending and self._apply_lock.acquire(blocking=False):
            try:
                self._apply_pending()
            finally:
                self._apply_lock.release()

    def _apply_pending(self) -> None:
        pending = self._pending
        while pending:  # (only the holder of the apply lock takes records out)
            c = pending.popleft()
            try:
                self._apply(c)
            except Exception as exc:
                errors.report(f"sink.{type(self).__name__}", exc)

    def on_delivery(self, event: str, reason: str, count: int) -> None:
        if event == "exported":
            self.spans_exported.child(()).inc(count)
        else:
            self.spans_dropped.child((reason,)).inc(count)

    def _after_fork(self) -> None:
        """In a forked worker: start every metric from zero with fresh locks (the parent's values
        stay the parent's; a lock another thread held at the fork would stay held forever)."""
        self._pending = deque()
        self._apply_lock = threading.RLock()
        self._llm_series = {}
        self._stage_series = {}
        self._workflow_series = {}
        for family in vars(self).values():
            if isinstance(family, Family):
                family.reset()
        for guard in self._guards.values():
            guard.after_fork()

    def _count_overflow(self, label: str) -> None:
        self.overflow.child((label,)).inc()

    def on_internal_error(self, component: str) -> None:
        self.internal_errors.child((self._guards["component"](component),)).inc()

    def _series(self, raw: tuple[str, str, str]) -> _LlmSeries:
        provider, model, operation = raw
        g = self._guards
        guards = (g["provider"], g["model"], g["operation"])
        folded_before = [guard.overflowed for guard in guards]
        series = _LlmSeries((g["provider"](provider), g["model"](self.model_label(provider, model)),
                             g["operation"](operation)))
        series.folded = tuple(guard.label for guard, n in zip(guards, folded_before, strict=True)
                              if guard.overflowed != n)
        if len(self._llm_series) < _MAX_SERIES:
            self._llm_series[raw] = series
        return series

    def _graph_series(
        self, cache: dict[Any, _GraphSeries], raw: Any, labels: Callable[[], tuple[str, ...]]
    ) -> _GraphSeries:
        """A new series of the labels ``labels()`` guards (kept in ``cache`` under ``raw``),
        remembering which ones the cardinality limit folded."""
        guards = tuple(self._guards.values())
        before = [guard.overflowed for guard in guards]
        series = _GraphSeries(labels())
        series.folded = tuple(guard.label for guard, n in zip(guards, before, strict=True)
                              if guard.overflowed != n)
        if len(cache) < _MAX_SERIES:
            cache[raw] = series
        return series

    def _tokens(self, series: _LlmSeries, kind: str, amount: int, ex: int, now: int) -> None:
        child = series.tokens.get(kind)
        if child is None:
            child = series.tokens[kind] = self.llm_tokens.child((*series.labels, kind))
        self.llm_tokens.inc_child(child, amount, ex, now)

    @staticmethod
    def _run(
        series: _LlmSeries | _GraphSeries, runs: Family, duration: Family, c: Completed, ex: int
    ) -> None:
        """Count one run of ``series`` by outcome and observe its duration."""
        child = series.runs.get(c.outcome)
        if child is None:
            child = series.runs[c.outcome] = runs.child((*series.labels, c.outcome))
        runs.inc_child(child, 1, ex, c.end_ns)
        if series.duration is None:
            series.duration = duration.child(series.labels)
        duration.observe_child(series.duration, c.duration_s, ex, c.end_ns)

    def _stage_tokens(self, stage: _GraphSeries, kind: str, amount: int, ex: int, now: int) -> None:
        child = stage.tokens.get(kind)
        if child is None:
            child = stage.tokens[kind] = self.stage_tokens.child((*stage.labels, kind))
        self.stage_tokens.inc_child(child, amount, ex, now)

    def _apply(self, c: Completed) -> None:
        ex = c.trace_id if self.exemplars else 0  # exemplar: the span's trace id
        record = c.record
        g = self._guards
        now = c.end_ns
        if isinstance(record, Inference):
            raw = (record.provider, c.response_model or record.model, record.operation)
            series = self._llm_series.get(raw)
            if series is None:
                series = self._series(raw)
            elif series.folded:  # the guard counts each folded value; a resolved series does the same
                for label in series.folded:
                    self._count_overflow(label)
            self._run(series, self.llm_calls, self.llm_duration, c, ex)
            if c.time_to_first_chunk_s is not None:
                if series.ttft is None:
                    series.ttft = self.llm_ttft.child(series.labels[:2])
                self.llm_ttft.observe_child(series.ttft, c.time_to_first_chunk_s, ex, now)
            usage = c.usage
            if usage is not None:
                self._tokens(series, names.TOKEN_INPUT, usage.input_tokens, ex, now)
                self._tokens(series, names.TOKEN_OUTPUT, usage.output_tokens, ex, now)
                if usage.cache_read_tokens:
                    self._tokens(series, names.TOKEN_CACHE_READ, usage.cache_read_tokens, ex, now)
                if usage.cache_write_tokens:
                    self._tokens(series, names.TOKEN_CACHE_WRITE, usage.cache_write_tokens, ex, now)
                if usage.reasoning_tokens:
                    self._tokens(series, names.TOKEN_REASONING, usage.reasoning_tokens, ex, now)
                if c.cost is not None:
                    if series.cost is None:
                        series.cost = self.llm_cost.child(series.labels)
                    self.llm_cost.inc_child(series.cost, c.cost.total, ex, now)
                else:
                    if series.unpriced is None:
                        series.unpriced = self.unpriced.child(series.labels[:2])
                    self.unpriced.inc_child(series.unpriced, 1, ex, now)
            if c.outcome == names.OUTCOME_ERROR:
                provider, model, _ = series.labels
                self.llm_errors.inc((provider, model, g["error_type"](c.error_type)), 1, ex, now)
        elif isinstance(record, Stage):
            raw_stage = (c.graph, record.name)
            stage = self._stage_series.get(raw_stage)
            if stage is None:
                graph, name = raw_stage
                stage = self._graph_series(self._stage_series, raw_stage,
                                           lambda: (g["graph"](graph) if graph else "", g["stage"](name)))
            elif stage.folded:
                for label in stage.folded:
                    self._count_overflow(label)
            self._run(stage, self.stage_runs, self.stage_duration, c, ex)
            rollup = c.rollup
            if rollup is not None:
                if rollup.cost_usd:
                    if stage.cost is None:
                        stage.cost = self.stage_cost.child(stage.labels)
                    self.stage_cost.inc_child(stage.cost, rollup.cost_usd, ex, now)
                if rollup.input_tokens:
                    self._stage_tokens(stage, names.TOKEN_INPUT, rollup.input_tokens, ex, now)
                if rollup.output_tokens:
                    self._stage_tokens(stage, names.TOKEN_OUTPUT, rollup.output_tokens, ex, now)
        elif isinstance(record, Workflow):
            workflow = self._workflow_series.get(record.name)
            if workflow is None:
                graph = record.name
                workflow = self._graph_series(self._workflow_series, graph, lambda: (g["graph"](graph),))
            elif workflow.folded:
                for label in workflow.folded:
                    self._count_overflow(label)
            self._run(workflow, self.workflow_runs, self.workflow_duration, c, ex)
            if c.rollup is not None and c.rollup.cost_usd:
                if workflow.cost is None:
                    workflow.cost = self.workflow_cost.child(workflow.labels)
                self.workflow_cost.inc_child(workflow.cost, c.rollup.cost_usd, ex, now)
        elif isinstance(record, VectorSearch):
            key = (g["db"](record.db), g["collection"](record.collection))
            self.vector_duration.observe(key, c.duration_s, ex, now)
            if c.returned is not None:
                self.vector_results.observe(key, c.returned, ex, now)
        elif isinstance(record, ToolCall):
            tool = g["tool"](record.name)
            self.tool_calls.inc((tool, c.outcome), 1, ex, now)
            self.tool_duration.observe((tool,), c.duration_s, ex, now)
