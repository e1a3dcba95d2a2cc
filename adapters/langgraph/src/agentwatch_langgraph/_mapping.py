"""Pure translation of LangChain / LangGraph callback arguments into agentwatch records and facts.

Nothing here keeps state, opens spans or does I/O, so every function is tested on plain objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from langchain_core.documents import Document

from agentwatch import names, normalize
from agentwatch.call import Call
from agentwatch.decorators import read_search_result
from agentwatch.records import AttributeValue, Inference, SpanRef, Stage, ToolCall, VectorSearch, Workflow

#: LangChain ``ls_provider`` values -> OpenTelemetry ``gen_ai.provider.name`` well-known values
_PROVIDERS: dict[str, str] = {
    "openai": "openai",
    "azure": "azure.ai.openai",
    "azure_openai": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "anthropic": "anthropic",
    "google_genai": "gcp.gen_ai",
    "google_vertexai": "gcp.vertex_ai",
    "google_anthropic_vertex": "gcp.vertex_ai",
    "bedrock": "aws.bedrock",
    "bedrock_converse": "aws.bedrock",
    "amazon_bedrock": "aws.bedrock",
    "mistralai": "mistral_ai",
    "xai": "x_ai",
    "deepseek": "deepseek",
    "groq": "groq",
    "cohere": "cohere",
    "perplexity": "perplexity",
    "ibm": "ibm.watsonx.ai",
    "watsonx": "ibm.watsonx.ai",
}
#: ``serialized["id"]`` module segments of LangChain integrations -> provider (when no ls_provider)
_PACKAGES: dict[str, str] = {
    "langchain_openai": "openai",
    "langchain_anthropic": "anthropic",
    "langchain_google_genai": "gcp.gen_ai",
    "langchain_google_vertexai": "gcp.vertex_ai",
    "langchain_aws": "aws.bedrock",
    "langchain_mistralai": "mistral_ai",
    "langchain_groq": "groq",
    "langchain_xai": "x_ai",
    "langchain_deepseek": "deepseek",
}
_REQUEST_KEYS: tuple[tuple[str, str], ...] = (
    ("ls_temperature", names.GEN_AI_REQUEST_TEMPERATURE),
    ("ls_max_tokens", names.GEN_AI_REQUEST_MAX_TOKENS),
)
_MODEL_PARAMS = ("model", "model_name", "model_id", "deployment_name")
_EMPTY: Mapping[str, AttributeValue] = {}
_GRAPH_STEP_TAG = "graph:step:"
_SEQ_TAG = "seq:step:"
_FIRST_SEQ_TAG = "seq:step:1"
_provider_cache: dict[str, str] = {}


def provider_name(ls_provider: Any, serialized: Any = None) -> str:
    """The semconv provider name of a LangChain model run (``unknown`` when nothing says)."""
    if isinstance(ls_provider, str) and ls_provider:
        cached = _provider_cache.get(ls_provider)
        if cached is None:
            key = ls_provider.strip().lower()
            cached = _PROVIDERS.get(key, key)
            if len(_provider_cache) < 256:
                _provider_cache[ls_provider] = cached
        return cached
    if isinstance(serialized, Mapping):
        path = serialized.get("id")
        if isinstance(path, Sequence) and not isinstance(path, str):
            for part in path:
                found = _PACKAGES.get(str(part))
                if found is not None:
                    return found
    return names.UNKNOWN_LABEL_VALUE


def model_name(metadata: Mapping[str, Any] | None, invocation_params: Any) -> str:
    if metadata:
        model = metadata.get("ls_model_name")
        if isinstance(model, str) and model:
            return model
    if isinstance(invocation_params, Mapping):
        for key in _MODEL_PARAMS:
            value = invocation_params.get(key)
            if isinstance(value, str) and value:
                return value
    return names.UNKNOWN_LABEL_VALUE


def request_attributes(metadata: Mapping[str, Any] | None) -> Mapping[str, AttributeValue]:
    """``gen_ai.request.*`` from the ``ls_*`` parameters LangChain puts in a model run's metadata."""
    if not metadata:
        return _EMPTY
    attrs: dict[str, AttributeValue] | None = None
    for key, attr in _REQUEST_KEYS:
        value = metadata.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if attrs is None:
                attrs = {}
            attrs[attr] = value
    stop = metadata.get("ls_stop")
    if isinstance(stop, (list, tuple)) and stop:
        if attrs is None:
            attrs = {}
        attrs[names.GEN_AI_REQUEST_STOP_SEQUENCES] = tuple(str(s) for s in stop)
    return attrs if attrs is not None else _EMPTY


_R = TypeVar("_R")
_MAX_RECORDS = 1024


def cached(cache: Mapping[Any, _R], key: Any) -> tuple[_R | None, Any]:
    """``cache[key]`` (None when missing) and the key to store a new record under (None: unhashable).

    Records are immutable, so the handler builds one per distinct set of static parameters and
    reuses it; a cache that fills up starts over (keys such as thread ids are unbounded)."""
    try:
        return cache.get(key), key
    except TypeError:
        return None, None


def store(cache: dict[Any, _R], key: Any, record: _R) -> _R:
    if key is not None:
        if len(cache) >= _MAX_RECORDS:
            cache.clear()
        cache[key] = record
    return record


_records: dict[tuple[Any, ...], Inference] = {}


def inference_record(
    serialized: Any,
    metadata: Mapping[str, Any] | None,
    invocation_params: Any,
    *,
    operation: str = names.OP_CHAT,
    input_messages: Any = None,
) -> Inference:
    """The record of a model run. Records are immutable, so the usual case -- no content, a run
    whose metadata names provider and model -- is built once per distinct set of parameters."""
    key: tuple[Any, ...] | None = None
    if input_messages is None and metadata:
        provider, model = metadata.get("ls_provider"), metadata.get("ls_model_name")
        if isinstance(provider, str) and isinstance(model, str):
            stop = metadata.get("ls_stop")
            found, key = cached(
                _records,
                (
                    operation,
                    provider,
                    model,
                    metadata.get("ls_temperature"),
                    metadata.get("ls_max_tokens"),
                    tuple(stop) if isinstance(stop, (list, tuple)) else stop,
                ),
            )
            if found is not None:
                return found
    ls_provider = metadata.get("ls_provider") if metadata else None
    record = Inference(
        provider=provider_name(ls_provider, serialized),
        model=model_name(metadata, invocation_params),
        operation=operation,
        request=request_attributes(metadata),
        input_messages=input_messages,
    )
    return store(_records, key, record)


def messages_content(messages: Any) -> Any:
    """Chat messages as plain role/content dicts (only built when content capture is on)."""
    out: list[dict[str, Any]] = []
    try:
        for batch in messages:
            for m in batch:
                out.append({"role": getattr(m, "type", "unknown"), "content": getattr(m, "content", m)})
    except TypeError:
        return messages
    return out


# --- model results ----------------------------------------------------------------------------------
def _first_generation(response: Any) -> Any:
    generations = getattr(response, "generations", None)
    if not generations:
        return None
    first = generations[0]
    if not first:
        return None
    return first[0]


def _is_run_generated_id(value: str) -> bool:
    # LangChain gives messages without a provider id one derived from the run ("run-...", "lc_run--...").
    return value.startswith(("run-", "lc_run-", "lc_"))


def read_llm_result(call: Call, response: Any, provider: str | None) -> None:
    """Fill ``call`` from an ``LLMResult``: usage, response model and id, finish reasons, tool calls."""
    generation = _first_generation(response)
    message = getattr(generation, "message", None)
    if message is not None:
        meta = getattr(message, "usage_metadata", None)
        if meta and call.usage is None:
            call.usage = normalize.usage_from_langchain(meta, provider)
        rmeta = getattr(message, "response_metadata", None)
        if (type(rmeta) is dict or isinstance(rmeta, Mapping)) and rmeta:
            model = rmeta.get("model_name") or rmeta.get("model")
            if isinstance(model, str) and model and call.response_model is None:
                call.response_model = model
            reason = rmeta.get("finish_reason") or rmeta.get("stop_reason")
            if isinstance(reason, str) and reason and not call.finish_reasons:
                call.finish_reasons = (reason,)
            rid = rmeta.get("id")
            if isinstance(rid, str) and rid and call.response_id is None:
                call.response_id = rid
        mid = getattr(message, "id", None)
        if isinstance(mid, str) and mid and call.response_id is None and not _is_run_generated_id(mid):
            call.response_id = mid
        tool_calls = getattr(message, "tool_calls", None)
        if tool_calls:
            call.set_tool_calls(tc.get("name", "") for tc in tool_calls if isinstance(tc, Mapping))
    elif generation is not None and not call.finish_reasons:
        info = getattr(generation, "generation_info", None)
        if isinstance(info, Mapping):
            reason = info.get("finish_reason")
            if isinstance(reason, str) and reason:
                call.finish_reasons = (reason,)
    llm_output = getattr(response, "llm_output", None)
    if (type(llm_output) is dict or isinstance(llm_output, Mapping)) and llm_output:
        if call.usage is None:
            token_usage = llm_output.get("token_usage") or llm_output.get("usage")
            if token_usage:
                call.usage = normalize.usage_from_any({"usage": token_usage})
        model = llm_output.get("model_name") or llm_output.get("model")
        if isinstance(model, str) and model and call.response_model is None:
            call.response_model = model


# --- tools and retrievers -----------------------------------------------------------------------------
def tool_record(serialized: Any, name: Any, tool_call_id: Any, arguments: Any) -> ToolCall:
    description = None
    if isinstance(serialized, Mapping):
        if not name:
            name = serialized.get("name")
        desc = serialized.get("description")
        description = desc if isinstance(desc, str) and desc else None
    return ToolCall(
        name=str(name) if name else "tool",
        call_id=str(tool_call_id) if tool_call_id else None,
        description=description,
        arguments=arguments,
    )


def _db_name(vector_store_class: Any) -> str:
    if not isinstance(vector_store_class, str) or not vector_store_class:
        return names.UNKNOWN_LABEL_VALUE
    db = vector_store_class.lower()
    for suffix in ("vectorstore", "vectorsearch", "_vector_store"):
        if db.endswith(suffix) and len(db) > len(suffix):
            db = db[: -len(suffix)]
    return db


_searches: dict[tuple[Any, Any, Any], VectorSearch] = {}


def retriever_record(
    serialized: Any, name: Any, metadata: Mapping[str, Any] | None, query: Any
) -> VectorSearch:
    """The record of a retriever run (built once per retriever when there is no query content)."""
    retriever = vector_store = None
    if metadata:
        retriever = metadata.get("ls_retriever_name")
        vector_store = metadata.get("ls_vector_store_provider")
    if not name and isinstance(serialized, Mapping):
        name = serialized.get("name")
    key = None
    if query is None:  # no content: the record is static
        found, key = cached(_searches, (name, retriever, vector_store))
        if found is not None:
            return found
    record = VectorSearch(
        db=_db_name(vector_store), collection=str(name or retriever or "retriever"), query=query
    )
    return store(_searches, key, record)


_SCORE_KEYS = ("score", "relevance_score", "similarity", "distance")


def _document_score(metadata: Any) -> float | None:
    if not metadata:
        return None
    for key in _SCORE_KEYS:
        value = metadata.get(key)
        if type(value) is float:
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def read_documents(call: Call, documents: Any) -> None:
    """Ids and scores of what a retriever returned. LangChain ``Document`` lists are read directly
    (``id``, a score in ``metadata``); when an instrumented store's search inside the retriever lent
    its scored results already, the core's reader merges them (a retriever's documents carry none)."""
    if call.documents is None and isinstance(documents, list):
        found: list[tuple[str | None, float | None]] = []
        for d in documents:
            if type(d) is not Document:
                break
            doc_id = d.id
            found.append((doc_id if isinstance(doc_id, str) else None, _document_score(d.metadata)))
        else:
            call.documents = tuple(found)
            call.returned = len(found)
            return
    read_search_result(call, documents)


def tool_failed(output: Any) -> bool:
    """A tool that returned an error ``ToolMessage`` (``status="error"``) instead of raising."""
    return getattr(output, "status", None) == "error"


def tool_output_content(output: Any) -> Any:
    return getattr(output, "content", output)


# --- graph structure ----------------------------------------------------------------------------------
def is_node_run(tags: Sequence[str] | None, metadata: Mapping[str, Any] | None) -> bool:
    """A LangGraph task (one node execution): tagged ``graph:step:N`` and named in the metadata."""
    if not tags or not metadata or "langgraph_node" not in metadata:
        return False
    for tag in tags:  # noqa: SIM110 - a plain loop: no generator object per callback
        if isinstance(tag, str) and tag.startswith(_GRAPH_STEP_TAG):
            return True
    return False


def is_writer_step(tags: Sequence[str] | None) -> bool:
    """A run a node's sequence makes after the node's own function: its writers and edge functions."""
    if not tags:
        return False
    for tag in tags:  # noqa: SIM110 - a plain loop: no generator object per callback
        if isinstance(tag, str) and tag.startswith(_SEQ_TAG) and tag != _FIRST_SEQ_TAG:
            return True
    return False


def _target(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    node = getattr(value, "node", None)  # Send
    if isinstance(node, str):
        return node
    return None


def route_targets(output: Any) -> list[str]:
    """Where a routing function (or a ``Command(goto=...)``) sends the graph next."""
    goto = getattr(output, "goto", None) if not isinstance(output, (str, list, tuple)) else None
    if goto is not None:
        output = goto
    if isinstance(output, (list, tuple)):
        found = (_target(v) for v in output)
        return [t for t in found if t is not None]
    t = _target(output)
    return [t] if t is not None else []


_NOT_COMMANDS = frozenset((type(None), dict, str, list, tuple))


def command_targets(output: Any) -> list[str]:
    """Routing of a node that returned a ``Command`` (empty for anything else)."""
    if type(output) in _NOT_COMMANDS or isinstance(output, (str, Mapping, list, tuple)):
        return []
    goto = getattr(output, "goto", None)
    if goto is None or goto == ():
        return []
    return route_targets(goto)


def thread_id(metadata: Mapping[str, Any] | None) -> str | None:
    if not metadata:
        return None
    value = metadata.get("thread_id")
    if value is None or value == "":
        return None
    return str(value)


# --- stage and workflow records ------------------------------------------------------------------
_stages: dict[tuple[str, str | None, int | None, int | None], Stage] = {}


def stage_record(node: str, graph: str | None, step: int | None, attempt: int | None) -> Stage:
    """One record per (node, graph, step, attempt), built once (see :func:`cached`)."""
    key = (node, graph, step, attempt)  # always hashable
    record = _stages.get(key)
    if record is None:
        record = store(_stages, key, Stage(name=node, graph=graph, step=step, attempt=attempt))
    return record


_workflows: dict[tuple[str, str | None], Workflow] = {}


def workflow_record(graph: str, thread: str | None, links: tuple[SpanRef, ...]) -> Workflow:
    """One record per (graph, thread), unless the run links to an interrupted one."""
    if links:
        return Workflow(name=graph, conversation_id=thread, links=links)
    key = (graph, thread)  # always hashable
    record = _workflows.get(key)
    if record is None:
        record = store(_workflows, key, Workflow(name=graph, conversation_id=thread))
    return record
