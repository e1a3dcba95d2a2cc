"""Write the metrics, span-attribute and environment-variable references from the code itself.

    python docs/reference/generate.py          # rewrite docs/reference/*.md
    python docs/reference/generate.py --check  # exit 1 if a committed page is out of date

Metric names, types, labels and buckets are read from a live Prometheus sink; attribute and
variable names from ``agentwatch.names``. The test suite runs ``--check``, so the pages cannot drift
from what agentwatch emits.
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from agentwatch import names
from agentwatch.sinks.prometheus import BATCH_SIZE, PrometheusSink

HERE = Path(__file__).resolve().parent

# What each attribute means and where it appears. A name in agentwatch.names without an entry here
# (or a trailing comment there) fails the check, so a new attribute cannot ship undocumented.
ATTRIBUTES: dict[str, tuple[str, str]] = {
    names.GEN_AI_OPERATION_NAME: ("all GenAI spans", "chat, text_completion, embeddings, retrieval, "
                                  "execute_tool, invoke_agent, invoke_workflow"),
    names.GEN_AI_PROVIDER_NAME: ("inference, embeddings", "openai, anthropic, ... (semconv provider names)"),
    names.GEN_AI_REQUEST_MODEL: ("inference, embeddings", "model the caller asked for"),
    names.GEN_AI_REQUEST_MAX_TOKENS: ("inference", "request parameter"),
    names.GEN_AI_REQUEST_TEMPERATURE: ("inference", "request parameter"),
    names.GEN_AI_REQUEST_TOP_P: ("inference", "request parameter"),
    names.GEN_AI_REQUEST_TOP_K: ("inference", "request parameter"),
    names.GEN_AI_REQUEST_FREQUENCY_PENALTY: ("inference", "request parameter"),
    names.GEN_AI_REQUEST_PRESENCE_PENALTY: ("inference", "request parameter"),
    names.GEN_AI_REQUEST_STOP_SEQUENCES: ("inference", "request parameter"),
    names.GEN_AI_REQUEST_SEED: ("inference", "request parameter"),
    names.GEN_AI_REQUEST_CHOICE_COUNT: ("inference", "request parameter (n), when not 1"),
    names.GEN_AI_REQUEST_STREAM: ("inference", "true for streamed calls"),
    names.GEN_AI_REQUEST_ENCODING_FORMATS: ("embeddings", "request parameter"),
    names.GEN_AI_RESPONSE_MODEL: ("inference, embeddings", "model that answered (often a dated snapshot)"),
    names.GEN_AI_RESPONSE_ID: ("inference", "provider's response id"),
    names.GEN_AI_RESPONSE_FINISH_REASONS: ("inference", "one per choice"),
    names.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: ("inference (streamed)", "seconds to the first chunk"),
    names.GEN_AI_USAGE_INPUT_TOKENS: ("inference, embeddings",
                                      "input tokens, cache reads and writes included"),
    names.GEN_AI_USAGE_OUTPUT_TOKENS: ("inference", "output tokens, reasoning included"),
    names.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: ("inference", "input tokens served from the prompt cache"),
    names.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: ("inference", "input tokens written to the prompt cache"),
    names.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: ("inference", "reasoning / thinking tokens"),
    names.GEN_AI_OUTPUT_TYPE: ("inference", "text, json, ..."),
    names.GEN_AI_EMBEDDINGS_DIMENSION_COUNT: ("embeddings", "vector size"),
    names.GEN_AI_CONVERSATION_ID: ("every span in a context() block", "from context(conversation_id=)"),
    names.GEN_AI_AGENT_NAME: ("agent stages", "stage name when the stage is an agent"),
    names.GEN_AI_WORKFLOW_NAME: ("workflow", "graph name"),
    names.GEN_AI_TOOL_NAME: ("tool", "tool name"),
    names.GEN_AI_TOOL_DESCRIPTION: ("tool", "tool description"),
    names.GEN_AI_TOOL_TYPE: ("tool", "function, ..."),
    names.GEN_AI_TOOL_CALL_ID: ("tool", "id of the model's tool call"),
    names.GEN_AI_TOOL_CALL_ARGUMENTS: ("tool", "content: only with capture on"),
    names.GEN_AI_TOOL_CALL_RESULT: ("tool", "content: only with capture on"),
    names.GEN_AI_DATA_SOURCE_ID: ("retrieval", "the searched store"),
    names.GEN_AI_RETRIEVAL_QUERY_TEXT: ("retrieval", "content: only with capture on"),
    names.GEN_AI_RETRIEVAL_DOCUMENTS: ("retrieval", "ids and scores of returned documents (text only with "
                                       "capture on)"),
    names.GEN_AI_INPUT_MESSAGES: ("inference", "content: only with capture on"),
    names.GEN_AI_OUTPUT_MESSAGES: ("inference", "content: only with capture on"),
    names.GEN_AI_SYSTEM_INSTRUCTIONS: ("inference", "content: only with capture on"),
    names.GEN_AI_TOKEN_TYPE: ("gen_ai.client.token.usage metric", "input or output"),
    names.ERROR_TYPE: ("any failed span", "exception class or HTTP status class"),
    names.SERVER_ADDRESS: ("inference, retrieval", "host of the provider or database"),
    names.SERVER_PORT: ("inference, retrieval", "port of the provider or database"),
    names.HTTP_RESPONSE_HEADER_PREFIX: ("inference",
                                        "prefix: `http.response.header.<name>` for the provider's "
                                        "rate-limit headers (remaining requests / tokens, retry-after)"),
    names.DB_SYSTEM_NAME: ("retrieval", "pgvector, chroma, ..."),
    names.DB_COLLECTION_NAME: ("retrieval", "collection or table"),
    names.DB_OPERATION_NAME: ("retrieval", "e.g. the distance operator used"),
    names.DB_QUERY_TEXT: ("retrieval", "SQL text, parameters never included"),
    names.DB_QUERY_SUMMARY: ("retrieval", "short summary of the query, e.g. the operation and table"),
    names.DB_NAMESPACE: ("retrieval", "database name"),
    names.USER_ID: ("every span in a context() block", "from context(user_id=)"),
    names.SESSION_ID: ("every span in a context() block", "from context(session_id=)"),
    names.COST_USD: ("inference, embeddings", "estimated total cost in USD"),
    names.COST_INPUT_USD: ("inference, embeddings", "estimated input cost (cache included)"),
    names.COST_OUTPUT_USD: ("inference", "estimated output cost (reasoning included)"),
    names.COST_SOURCE: ("inference, embeddings", "price source and version, or override:<name>"),
    names.COST_TIER: ("inference", "price tier that applied (e.g. long context)"),
    names.USAGE_ESTIMATED: ("inference, embeddings", "true when agentwatch counted the tokens"),
    names.USAGE_REPORTED: ("inference, embeddings", "false when nothing reported usage"),
    names.REQUEST_ID: ("every span in a context() block", "from context(request_id=)"),
    names.STAGE_NAME: ("stage", "stage / node name"),
    names.STAGE_OUTCOME: ("stage", "ok, error or interrupted"),
    names.STAGE_ATTEMPT: ("stage", "attempt number when a retry policy re-ran the node"),
    names.GRAPH_NAME: ("workflow, stage", "graph name"),
    names.GRAPH_STEP: ("stage", "LangGraph superstep"),
    names.ROUTE_TO: ("stage", "next nodes chosen by a conditional edge or Command"),
    names.ROLLUP_COST_USD: ("workflow, stage", "sum of the cost of every call inside"),
    names.ROLLUP_INPUT_TOKENS: ("workflow, stage", "sum of input tokens inside"),
    names.ROLLUP_OUTPUT_TOKENS: ("workflow, stage", "sum of output tokens inside"),
    names.ROLLUP_LLM_CALLS: ("workflow, stage", "number of model calls inside"),
    names.RETRIEVAL_TOP_K: ("retrieval", "documents asked for"),
    names.RETRIEVAL_RETURNED: ("retrieval", "documents returned"),
    names.RETRIEVAL_TOP_SCORE: ("retrieval", "best score returned"),
    names.TOOL_CALLS_COUNT: ("inference", "tool calls the model asked for"),
    names.TOOL_CALLS_NAMES: ("inference", "names of the tools the model asked for"),
    names.ATTEMPTS: ("inference", "HTTP attempts including client retries"),
}

ENVIRONMENT: dict[str, str] = {
    names.ENV_CAPTURE_CONTENT: "true records prompts, completions, tool arguments and queries "
                               "(default off; configure(capture_content=) wins)",
    names.ENV_PRICES_FILE: "price override file (YAML or JSON) used when configure(prices=) is not given",
    names.ENV_SERVICE_NAME: "service.name of the spans when configure(service_name=) is not given",
    names.ENV_SDK_DISABLED: "true turns every span off; metrics keep working",
    names.ENV_TRACES_EXPORTER: "otlp, console, none (comma-separated) when configure(exporters=) "
                               "is not given",
}

# Constants in agentwatch.names that are not span attributes.
_NOT_ATTRIBUTES = re.compile(
    r"^(OP_|OUTCOME_|M_|TOKEN_|ENV_|GEN_AI_CLIENT_|DEFAULT_|OTHER_|UNKNOWN_|BENCH_RUN_SPAN)|_BUCKETS$"
)


def _constants() -> list[tuple[str, str, str, str]]:
    """(section, constant, value, trailing comment) for every string constant in agentwatch.names."""
    source = inspect.getsource(names)
    lines = source.splitlines()
    tree = ast.parse(source)
    out: list[tuple[str, str, str, str]] = []
    for node in tree.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        if not (isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            continue
        section = ""
        for line in reversed(lines[: node.lineno - 1]):
            match = re.match(r"# --- (.+?) -+$", line)
            if match:
                section = match.group(1)
                break
        text = lines[node.lineno - 1]
        comment = text.split("#", 1)[1].strip() if "  # " in text else ""
        out.append((section, node.target.id, node.value.value, comment))
    return out


def attributes_page() -> str:
    rows = ["| attribute | on spans | meaning |", "|---|---|---|"]
    missing: list[str] = []
    for _section, const, value, comment in _constants():
        if _NOT_ATTRIBUTES.search(const) or "." not in value:  # attribute keys are dotted
            continue
        where, meaning = ATTRIBUTES.get(value, ("", comment))
        if not meaning:
            missing.append(f"{const} = {value!r}")
        rows.append(f"| `{value}` | {where} | {meaning} |")
    if missing:
        raise SystemExit("undocumented attributes (add them to docs/reference/generate.py): "
                         + ", ".join(missing))
    return ("# Span attributes\n\nEvery attribute agentwatch sets, generated from `agentwatch.names` "
            "(`python docs/reference/generate.py`). `gen_ai.*`, `server.*`, `db.*`, `error.type`, "
            "`user.id` and `session.id` follow the OpenTelemetry semantic conventions; `agentwatch.*` "
            "names are ours and never renamed.\n\n" + "\n".join(rows) + "\n")


def _metric_rows(sink: PrometheusSink) -> list[str]:
    rows = ["| metric | type | labels | unit | buckets | meaning |", "|---|---|---|---|---|---|"]
    families: list[Any] = [v for v in vars(sink).values() if hasattr(v, "metric") and hasattr(v, "child")]
    for family in sorted(families, key=lambda f: f.metric._name):
        metric = family.metric
        kind = metric._type
        name = metric._name + ("_total" if kind == "counter" else "")
        unit = "seconds" if name.endswith("_seconds") else "USD" if "_usd" in name else ""
        buckets = ""
        if kind == "histogram":
            bounds = [b for b in metric._upper_bounds if b != float("inf")]
            buckets = ", ".join(f"{b:g}" for b in bounds)
        labels = ", ".join(metric._labelnames)
        rows.append(f"| `{name}` | {kind} | {labels} | {unit} | {buckets} | {metric._documentation} |")
    return rows


def metrics_page() -> str:
    sink = PrometheusSink(CollectorRegistry())
    try:
        rows = _metric_rows(sink)
    finally:
        close = getattr(sink, "close", None)
        if close is not None:
            close()
    otel = [
        "| instrument | type | unit | buckets |", "|---|---|---|---|",
        f"| `{names.GEN_AI_CLIENT_TOKEN_USAGE}` | histogram | {{token}} | "
        + ", ".join(f"{b:g}" for b in names.TOKEN_BUCKETS) + " |",
        f"| `{names.GEN_AI_CLIENT_OPERATION_DURATION}` | histogram | s | "
        + ", ".join(f"{b:g}" for b in names.DURATION_BUCKETS) + " |",
        f"| `{names.GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK}` | histogram | s | "
        + ", ".join(f"{b:g}" for b in names.DURATION_BUCKETS) + " |",
    ]
    return (
        "# Metrics\n\nGenerated from a live Prometheus sink (`python docs/reference/generate.py`). The "
        f"`{names.DEFAULT_NAMESPACE}` prefix is `configure(namespace=...)`. Every label value is "
        "bounded by `configure(max_label_values=200)`: past the limit a value becomes "
        f"`{names.OTHER_LABEL_VALUE}` and `agentwatch_label_overflow_total` counts it. Counters and "
        "histograms carry a `trace_id` exemplar (OpenMetrics format). Completed calls reach these "
        f"metrics in batches of {BATCH_SIZE}, and whenever one of them is collected (a scrape, "
        "`get_sample_value`, a push) or `Telemetry.force_flush()` runs: a reader always sees every "
        "call completed before it. In multiprocess mode each call is applied at once.\n\n## Prometheus\n\n"
        + "\n".join(rows)
        + "\n\n## OpenTelemetry metrics (with `configure(meter_provider=...)`)\n\n"
        + "\n".join(otel) + "\n"
    )


def environment_page() -> str:
    rows = ["| variable | meaning |", "|---|---|"]
    for _section, const, value, comment in _constants():
        if const.startswith("ENV_"):
            meaning = ENVIRONMENT.get(value) or comment
            if not meaning:
                raise SystemExit(f"undocumented variable {const} (add it to docs/reference/generate.py)")
            rows.append(f"| `{value}` | {meaning} |")
    return ("# Environment variables\n\nRead by `configure()` (generated from `agentwatch.names`). The "
            "standard `OTEL_EXPORTER_OTLP_*`, `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_TRACES_SAMPLER` "
            "variables are read by the OpenTelemetry SDK's own exporters and sampler.\n\n"
            + "\n".join(rows) + "\n")


PAGES = {"attributes.md": attributes_page, "metrics.md": metrics_page, "environment.md": environment_page}


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for filename, build in PAGES.items():
        path = HERE / filename
        text = build()
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(filename)
        else:
            path.write_text(text)
    if stale:
        print("out of date: " + ", ".join(stale) + " (run python docs/reference/generate.py)")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
