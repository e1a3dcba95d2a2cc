"""Embeddings: an ``embeddings {model}`` span for every ``embed_documents`` / ``embed_query`` call
(and their async twins), with input tokens and cost, under the ``agentwatch_llm_*`` metrics with
``operation="embeddings"``.

LangChain embeddings return bare vectors, never the provider's usage, so tokens are counted here
with the offline tokenizer and marked ``agentwatch.usage.estimated=true``. When the provider's own
count reaches the call (an instrumented OpenAI client under ``OpenAIEmbeddings``), it wins.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from agentwatch import errors, names, tokens
from agentwatch.call import Call
from agentwatch.records import Inference
from agentwatch.tracking import wrap
from agentwatch_langchain import _mapping
from agentwatch_langchain._vectorstore import _MARK, COMPONENT, fresh_state

E = TypeVar("E")

#: method name -> whether it embeds many texts (else one query)
_METHODS = (("embed_documents", True), ("embed_query", False),
            ("aembed_documents", True), ("aembed_query", False))


def _texts(args: tuple[Any, ...], kwargs: dict[str, Any], many: bool) -> Any:
    if args:
        return args[0]
    return kwargs.get("texts" if many else "text")


def _reader(model: str, many: bool) -> Callable[[Call, Any], None]:
    def read(call: Call, value: Any) -> None:
        texts, vectors = value
        first = vectors
        if many:
            first = vectors[0] if isinstance(vectors, Sequence) and vectors else None
        if isinstance(first, Sequence):
            call.set_attribute(names.GEN_AI_EMBEDDINGS_DIMENSION_COUNT, len(first))
        if call.usage is None:  # nothing reported by the provider: estimate
            items = texts if many else [texts]
            count = sum(tokens.count_tokens(t, model) for t in items if isinstance(t, str))
            call.record_usage(input_tokens=count, output_tokens=0, estimated=True)

    return read


def _traced(bound: Callable[..., Any], record: Inference, model: str, many: bool,
            is_async: bool) -> Callable[..., Any]:
    read = _reader(model, many)
    if is_async:

        async def acall(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
            return _texts(args, kwargs, many), await bound(*args, **kwargs)

        traced_async = wrap(acall, record, on_result=read)

        @functools.wraps(bound)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            return (await traced_async(args, kwargs))[1]

        return async_wrapper

    def call(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
        return _texts(args, kwargs, many), bound(*args, **kwargs)

    traced = wrap(call, record, on_result=read)

    @functools.wraps(bound)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return traced(args, kwargs)[1]

    return wrapper


def _warm_tokenizer(model: str) -> None:
    # The tokenizer loads in ~1 s: do it now, off the caller's thread, not on its first embedding.
    def load() -> None:
        try:
            tokens.get_encoding(tokens.encoding_name_for(model))
        except Exception as exc:
            errors.report("tokens", exc)

    threading.Thread(target=load, name="agentwatch-tokenizer", daemon=True).start()


def instrument_embeddings(
    embeddings: E,
    *,
    provider: str | None = None,
    model: str | None = None,
    server_address: str | None = None,
    server_port: int | None = None,
) -> E:
    """Trace every call of a LangChain ``Embeddings`` object.

    Provider and model are read from the object (``OpenAIEmbeddings(model=...)`` is
    ``openai`` / its ``model``; other packages by their name) unless given; the server from its base
    URL. Returns ``embeddings`` itself; instrumenting twice changes nothing; never raises.
    """
    try:
        state = fresh_state(embeddings)
        if state is None:
            return embeddings
        provider = provider or _mapping.embeddings_provider(embeddings)
        model = model or _mapping.embeddings_model(embeddings)
        if server_address is None:
            server_address, port = _mapping.server_of(embeddings, provider)
            server_port = server_port or port
        record = Inference(provider=provider, model=model, operation=names.OP_EMBEDDINGS,
                           server_address=server_address, server_port=server_port)
        wrapped = []
        for name, many in _METHODS:
            bound = getattr(embeddings, name, None)
            if callable(bound):
                traced = _traced(bound, record, model, many, name.startswith("a"))
                object.__setattr__(embeddings, name, traced)
                wrapped.append(name)
        state[_MARK] = tuple(wrapped)
        _warm_tokenizer(model)
    except Exception as exc:
        errors.report(COMPONENT, exc)
    return embeddings
