"""Vector stores: a ``retrieval`` span for every ``similarity_search*`` and
``max_marginal_relevance_search*`` call (sync and async) and for every search of a retriever made
by ``as_retriever()``.

The store object itself is instrumented (its methods are replaced on the instance), so everything
that holds it, retrievers made before or after included, goes through the wrappers. A search that
calls another search of the same store (``similarity_search`` -> ``similarity_search_with_score``,
a retriever -> its store) is one span: the inner one lends its ids and scores to the outer one.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from agentwatch import errors, names
from agentwatch.call import Call
from agentwatch.decorators import read_search_result
from agentwatch.records import VectorSearch
from agentwatch.tracking import wrap
from agentwatch_langchain import _mapping

COMPONENT = "langchain"
_MARK = "__agentwatch_instrumented__"
_SEARCH_PREFIXES = ("similarity_search", "max_marginal_relevance_search")
_RETRIEVER_METHODS = ("_get_relevant_documents", "_aget_relevant_documents")
#: VectorStoreRetriever.search_type -> the store method it calls
_RETRIEVER_OPERATIONS: Mapping[str, str] = {
    "similarity": "similarity_search",
    "similarity_score_threshold": "similarity_search_with_relevance_scores",
    "mmr": "max_marginal_relevance_search",
}

S = TypeVar("S")


def fresh_state(obj: Any) -> dict[str, Any] | None:
    """The instance dict of an object to instrument; None when it is instrumented already or has none."""
    state = getattr(obj, "__dict__", None)
    if not isinstance(state, dict):
        errors.report(COMPONENT, f"cannot instrument {type(obj).__name__}: no instance dict")
        return None
    return None if _MARK in state else state


def _search_methods(store: Any) -> list[str]:
    found = []
    for name in dir(type(store)):
        base = name[1:] if name.startswith("a") else name
        if not (name.startswith(_SEARCH_PREFIXES) or base.startswith(_SEARCH_PREFIXES)):
            continue
        if callable(inspect.getattr_static(type(store), name, None)):
            found.append(name)
    return found


def _positions(fn: Callable[..., Any]) -> tuple[int | None, int | None, int | None]:
    """Positional index of ``query`` and ``k`` in ``fn``'s (bound) signature, and ``k``'s default."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return None, None, None
    positional = [p.name for p in params.values()
                  if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    k = params.get("k")
    k_default = k.default if k is not None and isinstance(k.default, int) else None
    return (
        positional.index("query") if "query" in positional else None,
        positional.index("k") if "k" in positional else None,
        k_default,
    )


def _arg(args: tuple[Any, ...], kwargs: Mapping[str, Any], name: str, index: int | None) -> Any:
    if name in kwargs:
        return kwargs[name]
    if index is not None and len(args) > index:
        return args[index]
    return None


def _is_shadow(call: Call) -> bool:
    # a search inside a search: the recorder gave it the outer call's span
    return call.parent is not None and call.span is call.parent.span


def _lend_request(call: Call) -> None:
    """What only this (inner) search knows about the request, for an outer span that lacks it (a
    retriever span made by a LangChain callback handler knows neither ``k`` nor the method)."""
    outer, record = call.parent, call.record
    if outer is None or not isinstance(record, VectorSearch) or not isinstance(outer.record, VectorSearch):
        return
    if outer.record.top_k is None and record.top_k is not None:
        call.set_attribute(names.RETRIEVAL_TOP_K, record.top_k)
    if outer.record.operation is None and record.operation:
        call.set_attribute(names.DB_OPERATION_NAME, record.operation)


def _read(call: Call, result: Any) -> None:
    read_search_result(call, result)
    if _is_shadow(call):
        _lend_request(call)


class _Target:
    """Where a store's searches go: its db, collection and server, the same for all its methods."""

    __slots__ = ("collection", "db", "server_address", "server_port")

    def __init__(self, db: str, collection: str, server_address: str | None, server_port: int | None) -> None:
        self.db = db
        self.collection = collection
        self.server_address = server_address
        self.server_port = server_port

    def record(self, operation: str | None, top_k: Any, query: Any) -> VectorSearch:
        return VectorSearch(
            db=self.db,
            collection=self.collection,
            top_k=top_k if isinstance(top_k, int) and not isinstance(top_k, bool) else None,
            server_address=self.server_address,
            server_port=self.server_port,
            operation=operation,
            query=query if isinstance(query, str) else None,
        )


def _wrap_search(bound: Callable[..., Any], name: str, target: _Target) -> Callable[..., Any]:
    operation = name[1:] if name.startswith("a") and not name.startswith(_SEARCH_PREFIXES) else name
    query_at, k_at, k_default = _positions(bound)
    base = target.record(operation, k_default, None)

    def factory(args: tuple[Any, ...], kwargs: dict[str, Any]) -> VectorSearch:
        k = _arg(args, kwargs, "k", k_at)
        return target.record(operation, k_default if k is None else k, _arg(args, kwargs, "query", query_at))

    return wrap(bound, base, factory=factory, on_result=_read)


def _instrument_retriever(retriever: Any, target: _Target, k_default: int | None) -> Any:
    """Wrap the two methods a retriever's ``invoke`` / ``ainvoke`` run (idempotent)."""
    try:
        state = fresh_state(retriever)
        if state is None:
            return retriever

        def factory(args: tuple[Any, ...], kwargs: dict[str, Any]) -> VectorSearch:
            search_type = getattr(retriever, "search_type", None)
            search_kwargs = getattr(retriever, "search_kwargs", None)
            k = kwargs.get("k")
            if k is None and isinstance(search_kwargs, Mapping):
                k = search_kwargs.get("k")
            operation = _RETRIEVER_OPERATIONS.get(search_type, search_type) if isinstance(search_type, str) \
                else None
            query = args[0] if args else kwargs.get("query")
            return target.record(operation, k_default if k is None else k, query)

        def read(call: Call, result: Any) -> None:
            _read(call, result)
            search_type = getattr(retriever, "search_type", None)
            if isinstance(search_type, str):
                call.set_attribute(names.RETRIEVAL_SEARCH_TYPE, search_type)

        wrapped = []
        for name in _RETRIEVER_METHODS:
            bound = getattr(retriever, name, None)
            if callable(bound):
                base = target.record(None, k_default, None)
                object.__setattr__(retriever, name, wrap(bound, base, factory=factory, on_result=read))
                wrapped.append(name)
        state[_MARK] = tuple(wrapped)
    except Exception as exc:
        errors.report(COMPONENT, exc)
    return retriever


def instrument_vectorstore(
    store: S,
    *,
    db: str | None = None,
    collection: str | None = None,
    server_address: str | None = None,
    server_port: int | None = None,
) -> S:
    """Trace every search of a LangChain ``VectorStore`` and of the retrievers it makes.

    Each ``similarity_search*`` / ``max_marginal_relevance_search*`` call (and its async twin) is
    a ``retrieval {collection}`` span with ``db.system.name`` (the store's class, lower-cased, without
    "VectorStore", unless ``db`` is given), ``db.collection.name`` (the store's collection / index /
    table name, else its class name), ``db.operation.name`` (the method), ``top_k`` (``k``), the
    ids and scores returned, and the ``agentwatch_vector_search_*`` metrics. ``as_retriever()``
    returns a retriever whose searches are traced the same way. Returns ``store`` itself;
    instrumenting twice changes nothing; never raises.
    """
    try:
        state = fresh_state(store)
        if state is None:
            return store
        target = _Target(
            db or _mapping.store_db(store),
            collection or _mapping.store_collection(store),
            server_address,
            server_port,
        )
        wrapped = []
        for name in _search_methods(store):
            object.__setattr__(store, name, _wrap_search(getattr(store, name), name, target))
            wrapped.append(name)
        similarity = getattr(store, "similarity_search", None)
        k_default = _positions(similarity)[2] if callable(similarity) else None
        as_retriever = getattr(store, "as_retriever", None)
        if callable(as_retriever):

            @functools.wraps(as_retriever)
            def traced_as_retriever(*args: Any, **kwargs: Any) -> Any:
                return _instrument_retriever(as_retriever(*args, **kwargs), target, k_default)

            object.__setattr__(store, "as_retriever", traced_as_retriever)
            wrapped.append("as_retriever")
        state[_MARK] = tuple(wrapped)
    except Exception as exc:
        errors.report(COMPONENT, exc)
    return store


def uninstrument(obj: Any) -> None:
    """Undo :func:`instrument_vectorstore` or ``instrument_embeddings`` on ``obj`` (retrievers made
    meanwhile stay traced)."""
    state = getattr(obj, "__dict__", None)
    if state is None:
        return
    for name in state.pop(_MARK, ()):
        state.pop(name, None)
