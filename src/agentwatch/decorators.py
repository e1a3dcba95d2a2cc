"""The public decorators and the ``stage`` scope.

Each one describes a call with a record and leaves the work to :mod:`agentwatch.tracking` (how to
wrap a function) and the recorder (how a record becomes telemetry).
"""

from __future__ import annotations

import contextvars
import inspect
import math
import numbers
from collections.abc import Callable, Collection, Mapping, Sequence
from decimal import Decimal
from types import TracebackType
from typing import Any, TypeVar

from opentelemetry import context as otel_context

from agentwatch import _state, errors, names, normalize
from agentwatch import parenting as _parenting
from agentwatch.call import NOOP_CALL, Call
from agentwatch.records import Inference, Record, Stage, ToolCall, VectorSearch
from agentwatch.tracking import _begin, _detach, _fail, _finish, wrap

F = TypeVar("F", bound=Callable[..., Any])


def current_call() -> Call:
    """The call in flight in this thread / task (a do-nothing handle outside tracked code)."""
    call = otel_context.get_value(_parenting.CALL_KEY)
    if isinstance(call, Call) and not call.ended:
        return call
    return NOOP_CALL


# --- model calls ----------------------------------------------------------------------------------
def read_inference_result(call: Call, result: Any) -> None:
    """Fill usage, response model, id and finish reasons from what a model call returned."""
    if result is None:
        return
    if call.usage is None:
        call.usage = normalize.usage_from_any(result)
    if call.response_model is None:
        call.response_model = normalize.response_model_from_any(result)
    if call.response_id is None:
        call.response_id = normalize.response_id_from_any(result)
    if not call.finish_reasons:
        call.finish_reasons = normalize.finish_reasons_from_any(result)


def _read_chunk(call: Call, chunk: Any) -> None:
    # Streams: a chunk that carries usage (OpenAI's last chunk, a final LangChain chunk) wins.
    if chunk is None or isinstance(chunk, (str, bytes)):
        return
    usage = normalize.usage_from_any(chunk) if _has_usage(chunk) else None
    if usage is not None:
        call.usage = usage
    if call.response_model is None:
        call.response_model = normalize.response_model_from_any(chunk)
    reasons = normalize.finish_reasons_from_any(chunk)
    if reasons:
        call.finish_reasons = reasons


def _has_usage(obj: Any) -> bool:
    if isinstance(obj, Mapping):
        return bool(obj.get("usage") or obj.get("usage_metadata"))
    return bool(getattr(obj, "usage", None) or getattr(obj, "usage_metadata", None))


def track_inference(
    provider: str, model: str, operation: str = names.OP_CHAT, **request: Any
) -> Callable[[F], F]:
    """Track a function that calls a model: one ``{operation} {model}`` span and the LLM metrics.

    Usage is read from the return value (OpenAI, Anthropic, LangChain shapes or plain dicts of
    them) unless ``current_call().record_usage(...)`` set it. Keyword arguments named like
    semconv request attributes (``temperature=0.2``, ``max_tokens=512``) are recorded as
    ``gen_ai.request.*``.
    """
    if not provider or not model:
        raise errors.ConfigurationError("track_inference needs a provider and a model")
    record = Inference(
        provider=provider, model=model, operation=operation,
        request={f"gen_ai.request.{k}": v for k, v in request.items()},
    )

    def decorate(fn: F) -> F:
        streaming = inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn)
        rec = Inference(provider=record.provider, model=record.model, operation=record.operation,
                        request=record.request, streaming=streaming)
        return wrap(fn, rec, on_result=read_inference_result, on_chunk=_read_chunk)

    return decorate


def track_embedding(provider: str, model: str, **request: Any) -> Callable[[F], F]:
    """Track a function that computes embeddings: an ``embeddings {model}`` span, LLM metrics with
    ``operation="embeddings"``."""
    return track_inference(provider, model, names.OP_EMBEDDINGS, **request)


# --- retrieval ------------------------------------------------------------------------------------
def _number(value: Any) -> float | None:
    """A score as a float: ints, floats, numpy scalars, Decimals; never a bool or a NaN."""
    kind = type(value)
    if kind is float:
        return None if math.isnan(value) else value
    if kind is bool or value is None:
        return None
    if isinstance(value, (int, float, numbers.Real, Decimal)):
        try:
            result = float(value)
        except (TypeError, ValueError, OverflowError):
            return None
        return None if math.isnan(result) else result
    return None


def _getter(doc: Any) -> Callable[[str], Any]:
    """How to read a named field of one result item, without probing attributes that do not exist
    (a miss on a pydantic model, such as LangChain's ``Document``, costs ~20 µs)."""
    if isinstance(doc, dict):
        return doc.get
    if isinstance(doc, Mapping):
        return doc.get
    on_class = _class_names(type(doc))
    state = getattr(doc, "__dict__", None)
    if not isinstance(state, dict):
        state = {}
    if "_mapping" in on_class or "_mapping" in state:  # SQLAlchemy rows
        mapping = getattr(doc, "_mapping", None)
        if isinstance(mapping, Mapping):
            return mapping.get

    def get(key: str) -> Any:
        if key in state:
            return state[key]
        if key in on_class:  # properties, slots, named tuple fields
            return getattr(doc, key, None)
        return None

    return get


_class_names_cache: dict[type, frozenset[str]] = {}


def _class_names(cls: type) -> frozenset[str]:
    """Every name defined on ``cls`` or its bases (read once per class: a miss through a pydantic
    model's metaclass is as slow as one on its instances)."""
    found = _class_names_cache.get(cls)
    if found is None:
        found = frozenset(name for klass in cls.__mro__ for name in vars(klass))
        if len(_class_names_cache) < 1024:
            _class_names_cache[cls] = found
    return found


def _doc_id(doc: Any, get: Callable[[str], Any] | None = None) -> str | None:
    if isinstance(doc, (str, int)) and not isinstance(doc, bool):
        return str(doc)  # a bare id, as in (id, score) rows
    if get is None:
        get = _getter(doc)
    for attr in ("id", "doc_id", "document_id"):
        value = get(attr)
        if value is not None:
            return str(value)
    metadata = get("metadata")
    if isinstance(metadata, Mapping):
        for key in ("id", "doc_id", "source"):
            if metadata.get(key) is not None:
                return str(metadata[key])
    return None


def _doc_score(doc: Any, get: Callable[[str], Any] | None = None) -> float | None:
    if get is None:
        get = _getter(doc)
    for attr in ("score", "similarity", "relevance_score", "distance"):
        value = _number(get(attr))
        if value is not None:
            return value
    metadata = get("metadata")
    if isinstance(metadata, Mapping):
        return _number(metadata.get("score"))
    return None


def documents_from_result(result: Any) -> list[tuple[str | None, float | None]] | None:
    """Ids and scores of a search result: documents, ``(document, score)`` or ``(id, score)`` pairs,
    or rows with ``.score`` / ``.id`` / ``metadata["id"]`` (mappings, objects, SQLAlchemy rows).
    ``None`` when the result is not a sized collection (an iterator would be consumed here)."""
    if result is None or isinstance(result, (str, bytes, Mapping)):
        return None
    if not isinstance(result, (Sequence, Collection)):
        return None
    docs: list[tuple[str | None, float | None]] = []
    for item in result:
        if isinstance(item, tuple) and len(item) == 2:
            score = _number(item[1])
            if score is not None:
                docs.append((_doc_id(item[0]), score))
                continue
        if isinstance(item, (str, int)) and not isinstance(item, bool):
            docs.append((str(item), None))
            continue
        get = _getter(item)
        docs.append((_doc_id(item, get), _doc_score(item, get)))
    return docs


def _keep_lent_scores(
    docs: list[tuple[str | None, float | None]], lent: Sequence[tuple[str | None, float | None]] | None
) -> list[tuple[str | None, float | None]]:
    # A search that returns bare documents often calls a scored search of the same store (LangChain's
    # similarity_search -> similarity_search_with_score): keep the scores the inner one lent.
    if not lent or len(lent) != len(docs) or any(s is not None for _, s in docs):
        return docs
    if any(i is not None and li is not None and i != li for (i, _), (li, _) in zip(docs, lent, strict=True)):
        return docs
    return [(i if i is not None else li, ls) for (i, _), (li, ls) in zip(docs, lent, strict=True)]


def read_search_result(call: Call, result: Any) -> None:
    """Fill the returned count and the ``(id, score)`` list of a search from what it returned."""
    docs = documents_from_result(result)
    if docs is not None:
        call.set_documents(_keep_lent_scores(docs, call.documents))
        if call.output is None and _state.recorder is not None and _state.recorder.capture_content:
            call.set_output([_doc_text(d) for d in result])


def _doc_text(item: Any) -> Any:
    doc = item[0] if isinstance(item, tuple) and len(item) == 2 else item
    text = getattr(doc, "page_content", None)
    if text is None and isinstance(doc, Mapping):
        text = doc.get("content") or doc.get("text")
    return text if text is not None else str(doc)


def track_vector_search(
    db: str,
    collection: str,
    top_k: int | None = None,
    *,
    top_k_arg: str | None = None,
    query_arg: str | None = None,
    server_address: str | None = None,
    server_port: int | None = None,
) -> Callable[[F], F]:
    """Track a vector search: a ``retrieval {collection}`` span and the vector-search metrics.

    ``top_k`` is fixed here or read per call from the argument named ``top_k_arg``; the query text
    (argument ``query_arg``) is recorded only when content capture is on.
    """
    base = VectorSearch(db=db, collection=collection, top_k=top_k,
                        server_address=server_address, server_port=server_port)

    def decorate(fn: F) -> F:
        if top_k_arg is None and query_arg is None:
            return wrap(fn, base, on_result=read_search_result)
        signature = inspect.signature(fn)

        def factory(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Record:
            if (top_k_arg is None or top_k_arg in kwargs) and (query_arg is None or query_arg in kwargs):
                bound = kwargs
            else:
                b = signature.bind_partial(*args, **kwargs)
                b.apply_defaults()
                bound = b.arguments
            k = bound.get(top_k_arg) if top_k_arg else top_k
            query = bound.get(query_arg) if query_arg else None
            return VectorSearch(db=db, collection=collection,
                                top_k=k if isinstance(k, int) else top_k,
                                server_address=server_address, server_port=server_port, query=query)

        return wrap(fn, base, factory=factory, on_result=read_search_result)

    return decorate


# --- tools ----------------------------------------------------------------------------------------
def _read_tool_result(call: Call, result: Any) -> None:
    if _state.recorder is not None and _state.recorder.capture_content:
        call.set_output(result)


def track_tool(name: str | None = None, *, description: str | None = None) -> Callable[[F], F]:
    """Track a tool function: an ``execute_tool {name}`` span and the tool metrics."""

    def decorate(fn: F) -> F:
        tool_name: str = name or getattr(fn, "__name__", None) or "tool"
        record = ToolCall(name=tool_name, description=description)

        def factory(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Record:
            recorder = _state.recorder
            if recorder is None or not recorder.capture_content:
                return record
            return ToolCall(name=tool_name, description=description,
                            arguments={"args": list(args), "kwargs": kwargs})

        return wrap(fn, record, factory=factory, on_result=_read_tool_result)

    return decorate


# --- stages ---------------------------------------------------------------------------------------
#: Stages opened as ``with`` blocks in this thread / task, innermost last: (stage, (call, token)).
#: One variable for all of them: a ContextVar made per stage object would stay referenced by the
#: thread's context forever (one leaked variable per ``with stage(...)``).
_open_stages: contextvars.ContextVar[tuple[tuple[stage, tuple[Call, object] | None], ...]] = (
    contextvars.ContextVar("agentwatch_open_stages", default=())
)


#: one record per (name, graph, agent): ``with stage("x"):`` runs per request, and records are
#: immutable, so the recorder can recognise a stage it has started before
_stage_records: dict[tuple[str, str | None, bool], Stage] = {}
_MAX_STAGE_RECORDS = 1024


class stage:  # used like a function: @stage("x"), with stage("x"):
    """A named step of an agent: decorator, ``with`` block or ``async with`` block.

    Its span carries ``agentwatch.stage.outcome`` and the exact cost and token rollup of every
    model call below it, across threads and tasks that inherit its context.
    """

    __slots__ = ("record",)

    def __init__(self, name: str, *, graph: str | None = None, agent: bool = False) -> None:
        if not name:
            raise errors.ConfigurationError("a stage needs a name")
        plain = type(name) is str and (graph is None or type(graph) is str)  # hashable as given
        key = (name, graph, bool(agent))
        record = _stage_records.get(key) if plain else None
        if record is None:
            record = Stage(name=name, graph=graph, agent=agent)
            if plain:
                if len(_stage_records) >= _MAX_STAGE_RECORDS:  # many distinct names: start over
                    _stage_records.clear()
                _stage_records[key] = record
        self.record = record

    def __call__(self, fn: F) -> F:
        return wrap(fn, self.record)

    def __enter__(self) -> Call:
        begun = _begin(self.record)
        _open_stages.set((*_open_stages.get(), (self, begun)))
        return begun[0] if begun is not None else NOOP_CALL

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        stack = _open_stages.get()
        for i in range(len(stack) - 1, -1, -1):
            if stack[i][0] is self:
                break
        else:
            return  # exit without enter
        begun = stack[i][1]
        _open_stages.set(stack[:i] + stack[i + 1:])
        if begun is None:
            return
        call, token = begun
        _detach(token)
        if exc is not None:
            _fail(call, exc)
        else:
            _finish(call)

    async def __aenter__(self) -> Call:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)
