"""Every name agentwatch emits: span attribute keys, metric names, label names and bucket boundaries.

This is the one place to look (and to change) when a convention moves. The GenAI names follow the
OpenTelemetry GenAI semantic conventions; ``agentwatch.*`` names are our own.
"""

from __future__ import annotations

from typing import Final

# --- operations (gen_ai.operation.name) ---------------------------------------------------------
OP_CHAT: Final = "chat"
OP_TEXT_COMPLETION: Final = "text_completion"
OP_GENERATE_CONTENT: Final = "generate_content"
OP_EMBEDDINGS: Final = "embeddings"
OP_RETRIEVAL: Final = "retrieval"
OP_EXECUTE_TOOL: Final = "execute_tool"
OP_INVOKE_AGENT: Final = "invoke_agent"
OP_INVOKE_WORKFLOW: Final = "invoke_workflow"

# --- GenAI semantic-convention attributes ---------------------------------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P: Final = "gen_ai.request.top_p"
GEN_AI_REQUEST_TOP_K: Final = "gen_ai.request.top_k"
GEN_AI_REQUEST_FREQUENCY_PENALTY: Final = "gen_ai.request.frequency_penalty"
GEN_AI_REQUEST_PRESENCE_PENALTY: Final = "gen_ai.request.presence_penalty"
GEN_AI_REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_SEED: Final = "gen_ai.request.seed"
GEN_AI_REQUEST_CHOICE_COUNT: Final = "gen_ai.request.choice.count"
GEN_AI_REQUEST_STREAM: Final = "gen_ai.request.stream"
GEN_AI_REQUEST_ENCODING_FORMATS: Final = "gen_ai.request.encoding_formats"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_OUTPUT_TYPE: Final = "gen_ai.output.type"
GEN_AI_EMBEDDINGS_DIMENSION_COUNT: Final = "gen_ai.embeddings.dimension.count"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
GEN_AI_AGENT_NAME: Final = "gen_ai.agent.name"
GEN_AI_WORKFLOW_NAME: Final = "gen_ai.workflow.name"
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_TOOL_DESCRIPTION: Final = "gen_ai.tool.description"
GEN_AI_TOOL_TYPE: Final = "gen_ai.tool.type"
GEN_AI_TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
GEN_AI_TOOL_CALL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_CALL_RESULT: Final = "gen_ai.tool.call.result"
GEN_AI_DATA_SOURCE_ID: Final = "gen_ai.data_source.id"
GEN_AI_RETRIEVAL_QUERY_TEXT: Final = "gen_ai.retrieval.query.text"
GEN_AI_RETRIEVAL_DOCUMENTS: Final = "gen_ai.retrieval.documents"
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"
GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"

# --- general OTel attributes ----------------------------------------------------------------------
ERROR_TYPE: Final = "error.type"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
DB_SYSTEM_NAME: Final = "db.system.name"
DB_COLLECTION_NAME: Final = "db.collection.name"
DB_OPERATION_NAME: Final = "db.operation.name"
DB_QUERY_TEXT: Final = "db.query.text"
DB_QUERY_SUMMARY: Final = "db.query.summary"
DB_NAMESPACE: Final = "db.namespace"
DB_SYSTEM_POSTGRESQL: Final = "postgresql"
USER_ID: Final = "user.id"
SESSION_ID: Final = "session.id"
#: a response header the provider returned, as ``http.response.header.<lower-case name>`` = (value,)
HTTP_RESPONSE_HEADER_PREFIX: Final = "http.response.header."

# --- agentwatch attributes (public contract: never rename) ---------------------------------------
COST_USD: Final = "agentwatch.cost.usd"
COST_INPUT_USD: Final = "agentwatch.cost.input_usd"
COST_OUTPUT_USD: Final = "agentwatch.cost.output_usd"
COST_SOURCE: Final = "agentwatch.cost.source"
COST_TIER: Final = "agentwatch.cost.tier"
USAGE_ESTIMATED: Final = "agentwatch.usage.estimated"
USAGE_REPORTED: Final = "agentwatch.usage.reported"
REQUEST_ID: Final = "agentwatch.request.id"
STAGE_NAME: Final = "agentwatch.stage.name"
STAGE_OUTCOME: Final = "agentwatch.stage.outcome"
STAGE_ATTEMPT: Final = "agentwatch.stage.attempt"
GRAPH_NAME: Final = "agentwatch.graph.name"
GRAPH_STEP: Final = "agentwatch.graph.step"
ROUTE_TO: Final = "agentwatch.route.to"
ROLLUP_COST_USD: Final = "agentwatch.rollup.cost.usd"
ROLLUP_INPUT_TOKENS: Final = "agentwatch.rollup.input_tokens"
ROLLUP_OUTPUT_TOKENS: Final = "agentwatch.rollup.output_tokens"
ROLLUP_LLM_CALLS: Final = "agentwatch.rollup.llm_calls"
RETRIEVAL_TOP_K: Final = "agentwatch.retrieval.top_k"
RETRIEVAL_RETURNED: Final = "agentwatch.retrieval.returned"
RETRIEVAL_TOP_SCORE: Final = "agentwatch.retrieval.top_score"
RETRIEVAL_DISTANCE_OPERATOR: Final = "agentwatch.retrieval.distance.operator"  # pgvector: <=>, <->, <#> ...
RETRIEVAL_DISTANCE_METRIC: Final = "agentwatch.retrieval.distance.metric"  # cosine, l2, inner_product ...
RETRIEVAL_SEARCH_TYPE: Final = "agentwatch.retrieval.search_type"  # similarity, mmr, ...
TOOL_CALLS_COUNT: Final = "agentwatch.tool_calls.count"
TOOL_CALLS_NAMES: Final = "agentwatch.tool_calls.names"
ATTEMPTS: Final = "agentwatch.attempts"

# --- outcomes -------------------------------------------------------------------------------------
OUTCOME_OK: Final = "ok"
OUTCOME_ERROR: Final = "error"
OUTCOME_INTERRUPTED: Final = "interrupted"

# --- Prometheus metrics (public contract; the "agentwatch" prefix is configurable) -----------------
DEFAULT_NAMESPACE: Final = "agentwatch"
M_LLM_CALLS: Final = "llm_calls"  # counter -> <ns>_llm_calls_total
M_LLM_TOKENS: Final = "llm_tokens"  # counter
M_LLM_COST: Final = "llm_cost_usd"  # counter
M_LLM_DURATION: Final = "llm_call_duration_seconds"  # histogram
M_LLM_TTFT: Final = "llm_time_to_first_token_seconds"  # histogram
M_LLM_ERRORS: Final = "llm_errors"  # counter
M_UNPRICED: Final = "unpriced_calls"  # counter
M_STAGE_RUNS: Final = "stage_runs"  # counter
M_STAGE_DURATION: Final = "stage_duration_seconds"  # histogram
M_STAGE_COST: Final = "stage_cost_usd"  # counter
M_STAGE_TOKENS: Final = "stage_tokens"  # counter {graph,stage,type}: tokens of the model calls in stages
M_VECTOR_DURATION: Final = "vector_search_duration_seconds"  # histogram
M_VECTOR_RESULTS: Final = "vector_search_results"  # histogram
M_TOOL_CALLS: Final = "tool_calls"  # counter
M_TOOL_DURATION: Final = "tool_duration_seconds"  # histogram
M_INTERNAL_ERRORS: Final = "internal_errors"  # counter
M_LABEL_OVERFLOW: Final = "label_overflow"  # counter: label values folded into "other"
M_SPANS_DROPPED: Final = "spans_dropped"  # counter {reason}: spans that never reached the exporter's backend
M_SPANS_EXPORTED: Final = "spans_exported"  # counter: spans the exporter accepted
# reasons of agentwatch_spans_dropped_total
DROP_QUEUE_FULL: Final = "queue_full"  # the export queue was full (backend slow or down)
DROP_EXPORT_FAILED: Final = "export_failed"  # the exporter failed, refused or raised on the batch
DROP_SHUTDOWN: Final = "shutdown"  # still queued when shutdown's time ran out

OTHER_LABEL_VALUE: Final = "other"
UNKNOWN_LABEL_VALUE: Final = "unknown"

# Token types for agentwatch_llm_tokens_total{type=...}
TOKEN_INPUT: Final = "input"
TOKEN_OUTPUT: Final = "output"
TOKEN_CACHE_READ: Final = "cache_read"
TOKEN_CACHE_WRITE: Final = "cache_write"
TOKEN_REASONING: Final = "reasoning"

# --- OTel GenAI metric instruments ----------------------------------------------------------------
GEN_AI_CLIENT_TOKEN_USAGE: Final = "gen_ai.client.token.usage"
GEN_AI_CLIENT_OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.operation.time_to_first_chunk"

# Bucket boundaries (semconv recommendations).
DURATION_BUCKETS: Final[tuple[float, ...]] = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)
TOKEN_BUCKETS: Final[tuple[float, ...]] = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)
# Vector searches and tools are faster than model calls: finer low end.
FAST_DURATION_BUCKETS: Final[tuple[float, ...]] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)
RESULT_COUNT_BUCKETS: Final[tuple[float, ...]] = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)

# --- environment variables ------------------------------------------------------------------------
ENV_CAPTURE_CONTENT: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
ENV_PRICES_FILE: Final = "AGENTWATCH_PRICES_FILE"
ENV_SERVICE_NAME: Final = "OTEL_SERVICE_NAME"
ENV_SDK_DISABLED: Final = "OTEL_SDK_DISABLED"
ENV_SPANS_FILE: Final = "AGENTWATCH_SPANS_FILE"  # path of the embedded default span file
ENV_SPANS_FILE_MAX_BYTES: Final = "AGENTWATCH_SPANS_FILE_MAX_BYTES"  # rotate the span file past this size
ENV_TRACES_EXPORTER: Final = "OTEL_TRACES_EXPORTER"
ENV_PROMETHEUS_MULTIPROC_DIR: Final = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client multiprocess mode

# --- agentwatch bench (the root span of each benchmark run) ---------------------------------------
BENCH_RUN_SPAN: Final = "agentwatch.bench.run"  # span name
BENCH_RUN_INDEX: Final = "agentwatch.bench.run.index"  # 0-based run number
BENCH_INPUT_INDEX: Final = "agentwatch.bench.input.index"  # 0-based line of the inputs file
