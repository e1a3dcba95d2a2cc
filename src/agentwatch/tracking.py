"""Run user code inside a call: plain functions, coroutines, generators and async generators.

Each wrapper opens the call when the function starts, makes it current (so calls started inside
nest under it and ``current_call()`` finds it), and ends it when the function returns or raises
or, for a generator, when it is exhausted or closed. Return values, exceptions and signatures are
the caller's, unchanged. Before :func:`agentwatch.configure` the wrappers only call through.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any, TypeVar

from opentelemetry import context as otel_context

from agentwatch import _state, errors
from agentwatch import parenting as _parenting
from agentwatch.call import Call
from agentwatch.records import Record

F = TypeVar("F", bound=Callable[..., Any])

#: builds the record for one invocation from the call's arguments (None: use the fixed record)
RecordFactory = Callable[[tuple[Any, ...], dict[str, Any]], Record]
#: reads what a result (or a streamed chunk) tells about the call
ResultReader = Callable[[Call, Any], None]


def _begin(record: Record) -> tuple[Call, object] | None:
    recorder = _state.recorder
    if recorder is None:
        return None
    call = recorder.start(record)
    try:
        token = otel_context.attach(_parenting.context_with(call))
    except Exception as exc:
        errors.report("context", exc)
        token = None
    return call, token


def _detach(token: object) -> None:
    if token is not None:
        try:
            otel_context.detach(token)  # type: ignore[arg-type]
        except Exception as exc:
            errors.report("context", exc)


def _read(reader: ResultReader | None, call: Call, value: Any) -> None:
    if reader is not None:
        try:
            reader(call, value)
        except Exception as exc:
            errors.report("result", exc)


def _finish(call: Call) -> None:
    recorder = _state.recorder
    if recorder is not None:
        recorder.finish(call)
    else:  # shut down while the call ran: still end the span
        call.ended = True
        call.span.end()


def _fail(call: Call, exc: BaseException) -> None:
    recorder = _state.recorder
    if recorder is not None:
        recorder.fail(call, exc)
    else:
        call.ended = True
        call.span.end()


def wrap(
    fn: F,
    record: Record | None,
    *,
    factory: RecordFactory | None = None,
    on_result: ResultReader | None = None,
    on_chunk: ResultReader | None = None,
) -> F:
    """Wrap ``fn`` so each invocation is one call of ``record`` (or of ``factory(args, kwargs)``)."""
    if record is None and factory is None:
        raise TypeError("wrap() needs a record or a record factory")

    def make(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Record:
        if factory is None:
            assert record is not None
            return record
        try:
            return factory(args, kwargs)
        except Exception as exc:
            errors.report("record", exc)
            return record if record is not None else _fallback(fn)

    if inspect.isasyncgenfunction(fn):
        return functools.wraps(fn)(_async_gen_wrapper(fn, make, on_chunk))  # type: ignore[return-value]
    if inspect.isgeneratorfunction(fn):
        return functools.wraps(fn)(_gen_wrapper(fn, make, on_chunk))  # type: ignore[return-value]
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            if _state.recorder is None:
                return await fn(*args, **kwargs)
            begun = _begin(make(args, kwargs))
            if begun is None:
                return await fn(*args, **kwargs)
            call, token = begun
            try:
                result = await fn(*args, **kwargs)
            except BaseException as exc:
                _detach(token)
                _fail(call, exc)
                raise
            _detach(token)
            _read(on_result, call, result)
            _finish(call)
            return result

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _state.recorder is None:
            return fn(*args, **kwargs)
        begun = _begin(make(args, kwargs))
        if begun is None:
            return fn(*args, **kwargs)
        call, token = begun
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            _detach(token)
            _fail(call, exc)
            raise
        _detach(token)
        _read(on_result, call, result)
        _finish(call)
        return result

    return wrapper  # type: ignore[return-value]


def _fallback(fn: Callable[..., Any]) -> Record:
    from agentwatch.records import Stage

    return Stage(name=getattr(fn, "__qualname__", "call"))


def _gen_wrapper(
    fn: Callable[..., Generator[Any, Any, Any]],
    make: Callable[[tuple[Any, ...], dict[str, Any]], Record],
    on_chunk: ResultReader | None,
) -> Callable[..., Generator[Any, Any, Any]]:
    def gen_wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        if _state.recorder is None:
            return (yield from fn(*args, **kwargs))
        begun = _begin(make(args, kwargs))
        if begun is None:
            return (yield from fn(*args, **kwargs))
        call, token = begun
        try:
            gen = fn(*args, **kwargs)
        except BaseException as exc:
            _detach(token)
            _fail(call, exc)
            raise
        _detach(token)
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            token = otel_context.attach(_parenting.context_with(call))
            try:
                item = gen.send(sent) if thrown is None else gen.throw(thrown)
            except StopIteration as stop:
                _detach(token)
                _finish(call)
                return stop.value
            except BaseException as exc:
                _detach(token)
                _fail(call, exc)
                raise
            _detach(token)
            if call.first_chunk_ns is None:
                call.mark_first_chunk(time.time_ns())
            _read(on_chunk, call, item)
            thrown = None
            try:
                sent = yield item
            except GeneratorExit:
                # The consumer closed the stream early: close the inner generator, end the call.
                try:
                    gen.close()
                except BaseException as exc:
                    _fail(call, exc)
                    raise
                _finish(call)
                raise
            except BaseException as exc:
                thrown, sent = exc, None

    return gen_wrapper


def _async_gen_wrapper(
    fn: Callable[..., AsyncGenerator[Any, Any]],
    make: Callable[[tuple[Any, ...], dict[str, Any]], Record],
    on_chunk: ResultReader | None,
) -> Callable[..., AsyncGenerator[Any, Any]]:
    async def async_gen_wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        begun = _begin(make(args, kwargs)) if _state.recorder is not None else None
        call, token = begun if begun is not None else (None, None)
        try:
            agen = fn(*args, **kwargs)
        except BaseException as exc:
            if call is not None:
                _detach(token)
                _fail(call, exc)
            raise
        _detach(token)
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            token = otel_context.attach(_parenting.context_with(call)) if call is not None else None
            try:
                if thrown is None:
                    item = await agen.asend(sent)
                else:
                    item = await agen.athrow(thrown)
            except StopAsyncIteration:
                _detach(token)
                if call is not None:
                    _finish(call)
                return
            except BaseException as exc:
                _detach(token)
                if call is not None:
                    _fail(call, exc)
                raise
            _detach(token)
            if call is not None:
                if call.first_chunk_ns is None:
                    call.mark_first_chunk(time.time_ns())
                _read(on_chunk, call, item)
            thrown = None
            try:
                sent = yield item
            except GeneratorExit:
                try:
                    await agen.aclose()
                except BaseException as exc:
                    if call is not None:
                        _fail(call, exc)
                    raise
                if call is not None:
                    _finish(call)
                raise
            except BaseException as exc:
                thrown, sent = exc, None

    return async_gen_wrapper
