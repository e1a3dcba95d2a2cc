"""Transparent proxies for what an SDK call hands back before its answer is complete: streams,
stream managers and raw responses parsed later.

A proxy looks like the object it wraps (``isinstance`` included), passes every item on unchanged,
shows each one to the adapter's :class:`StreamObserver`, and ends the call exactly once: when the
stream is exhausted, fails, is closed, or is dropped half-read (outcome ``interrupted``). Per item
this is on the hot path; nothing there does I/O or holds a lock.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from agentwatch import _state, errors, names
from agentwatch.call import Call


# --- what an adapter reads from a stream -------------------------------------------------------------
class StreamObserver:
    """Reads a streamed answer. Subclasses override what they need; none of it may be slow."""

    __slots__ = ()

    def on_item(self, call: Call, item: Any) -> bool:
        """Look at one item; return False to hide it from the caller (an injected usage chunk)."""
        return True

    def on_end(self, call: Call, complete: bool) -> None:
        """Fill the call (usage, finish reasons ...) once the stream ended, fully read or not."""


def end_call(call: Call, error: BaseException | None = None, *, interrupted: bool = False) -> None:
    """End ``call``: with ``error``, as interrupted, or normally. Never raises."""
    try:
        recorder = _state.recorder
        if interrupted and error is None:
            call.set_outcome(names.OUTCOME_INTERRUPTED)
        if recorder is None:  # shut down while the call ran: still end the span
            if not call.ended:
                call.ended = True
                call.span.end()
        elif error is not None:
            recorder.fail(call, error)
        else:
            recorder.finish(call)
    except Exception as exc:
        errors.report("instrumentation", exc)


# --- transparent proxies -----------------------------------------------------------------------------
class _Proxy:
    """Forwards everything to the wrapped object; ``isinstance`` sees the wrapped object's class."""

    __slots__ = ("__weakref__", "_aw_wrapped")

    def __init__(self, wrapped: Any) -> None:
        object.__setattr__(self, "_aw_wrapped", wrapped)

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return type(self._aw_wrapped)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_aw_"):  # an unset slot (a failed __init__): never ask the wrapped object
            raise AttributeError(name)
        return getattr(self._aw_wrapped, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_aw_"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._aw_wrapped, name, value)

    def __repr__(self) -> str:
        return repr(self._aw_wrapped)


_set = object.__setattr__


class _Recording:
    """The recorded call of one stream: what its proxy and the proxy's iterator share."""

    __slots__ = ("call", "done", "first", "observer", "on_item")

    def __init__(self, call: Call, observer: StreamObserver) -> None:
        self.call = call
        self.observer = observer
        self.on_item = observer.on_item
        self.done = False
        self.first = True

    def seen(self, item: Any) -> bool:
        """Note one item; False when it is to be hidden (what :func:`_items` does inline)."""
        if self.first:
            self.first = False
            self.call.mark_first_chunk(time.time_ns())
        try:
            return self.on_item(self.call, item)  # type: ignore[no-any-return]
        except Exception as exc:
            errors.report("instrumentation", exc)
            return True

    def end(self, error: BaseException | None = None, *, complete: bool = False) -> None:
        if self.done:
            return
        self.done = True
        call = self.call
        try:
            self.observer.on_end(call, complete)
        except Exception as exc:
            errors.report("instrumentation", exc)
        end_call(call, error, interrupted=not complete and error is None)


def _items(source: Iterator[Any], recording: _Recording) -> Iterator[Any]:
    """The items of a synchronous stream as the caller sees them, each one shown to the observer.

    A generator, because resuming one per item costs less than a Python ``__next__`` (this runs per
    chunk). It is primed (run to its first ``yield``) when made, so however the stream is dropped
    half-read (the proxy and every iterator of it gone), closing the generator ends the call as
    interrupted, at once: the generator does not reference the proxy, nothing waits for the
    garbage collector.
    """
    call = recording.call
    on_item = recording.on_item
    try:
        yield None  # primed
        for item in source:
            if recording.first:
                recording.first = False
                call.mark_first_chunk(time.time_ns())
            try:
                keep = on_item(call, item)
            except Exception as exc:
                errors.report("instrumentation", exc)
                keep = True
            if keep:
                yield item
    except GeneratorExit:  # dropped half-read (or closed, then ending it again does nothing)
        recording.end()
        raise
    except BaseException as exc:
        recording.end(exc)
        raise
    recording.end(complete=True)


class _StreamEnd(_Proxy):
    """A stream proxy: the call ends when the stream is exhausted, fails, is closed or is dropped."""

    __slots__ = ("_aw_recording",)
    _aw_recording: _Recording

    def __init__(self, wrapped: Any, call: Call, observer: StreamObserver) -> None:
        _set(self, "_aw_wrapped", wrapped)
        _set(self, "_aw_recording", _Recording(call, observer))

    @property
    def _aw_call(self) -> Call:
        return self._aw_recording.call

    @property
    def _aw_done(self) -> bool:
        return self._aw_recording.done

    @_aw_done.setter
    def _aw_done(self, done: bool) -> None:
        self._aw_recording.done = done

    def _aw_end(self, error: BaseException | None = None, *, complete: bool = False) -> None:
        self._aw_recording.end(error, complete=complete)


class StreamProxy(_StreamEnd):
    """A synchronous SDK stream that records its call; the caller sees the stream unchanged
    (iterating it, or ``next()`` on it, gives the same items from one iterator)."""

    __slots__ = ("_aw_items",)

    def __init__(self, wrapped: Any, call: Call, observer: StreamObserver) -> None:
        super().__init__(wrapped, call, observer)
        try:
            source = iter(wrapped)
        except TypeError:  # only __next__
            source = _NextOnly(wrapped)
        items = _items(source, self._aw_recording)
        next(items)  # primed: from now on, dropping it ends the call
        _set(self, "_aw_items", items)

    def __iter__(self) -> Iterator[Any]:
        return self._aw_items  # type: ignore[no-any-return]

    def __next__(self) -> Any:
        return next(self._aw_items)

    def close(self) -> None:
        try:
            self._aw_wrapped.close()
        finally:
            self._aw_end()

    def __enter__(self) -> StreamProxy:
        self._aw_wrapped.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return self._aw_wrapped.__exit__(*exc_info)
        finally:
            self._aw_end()


class _NextOnly:
    """An iterator over an object that has ``__next__`` but no ``__iter__``."""

    __slots__ = ("next",)

    def __init__(self, wrapped: Any) -> None:
        self.next = wrapped.__next__

    def __iter__(self) -> _NextOnly:
        return self

    def __next__(self) -> Any:
        return self.next()


class AsyncStreamProxy(_StreamEnd):
    """An asynchronous SDK stream that records its call; the caller sees the stream unchanged."""

    __slots__ = ()

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    async def __anext__(self) -> Any:
        wrapped = self._aw_wrapped
        recording = self._aw_recording
        while True:
            try:
                item = await wrapped.__anext__()
            except StopAsyncIteration:
                recording.end(complete=True)
                raise
            except BaseException as exc:
                recording.end(exc)
                raise
            if recording.seen(item):
                return item

    async def close(self) -> None:
        try:
            await self._aw_wrapped.close()
        finally:
            self._aw_end()

    async def __aenter__(self) -> AsyncStreamProxy:
        await self._aw_wrapped.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> Any:
        try:
            return await self._aw_wrapped.__aexit__(*exc_info)
        finally:
            self._aw_end()

    def __del__(self) -> None:
        recording = getattr(self, "_aw_recording", None)  # unset when __init__ failed
        if recording is not None and not recording.done:
            recording.end()


def stream_proxy(stream: Any, call: Call, observer: StreamObserver) -> StreamProxy | AsyncStreamProxy:
    """``stream`` (sync, or async when it has ``__anext__``) wrapped to record ``call``."""
    if hasattr(stream, "__anext__"):
        return AsyncStreamProxy(stream, call, observer)
    return StreamProxy(stream, call, observer)


def end_stream(stream: Any) -> None:
    """End the call of a stream proxy (``stream`` itself, or a helper's ``_raw_stream``) if it is still
    open: the stream's helper was closed before the stream was read to the end."""
    for candidate in (stream, getattr(stream, "_raw_stream", None)):
        if isinstance(candidate, _StreamEnd) and issubclass(type(candidate), _StreamEnd):
            # type() is not fooled by the proxy's __class__; isinstance() narrows the type for mypy
            candidate._aw_end()
            return


class DeferredResponse(_Proxy):
    """The SDK's raw-response object (``with_raw_response``): the call is read when the caller
    parses it, and ends then (or when the object is garbage-collected unparsed)."""

    __slots__ = ("_aw_call", "_aw_done", "_aw_then")

    def __init__(self, wrapped: Any, then: Callable[[Any], Any], call: Call) -> None:
        _set(self, "_aw_wrapped", wrapped)
        _set(self, "_aw_then", then)
        _set(self, "_aw_call", call)
        _set(self, "_aw_done", False)

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        parsed = self._aw_wrapped.parse(*args, **kwargs)
        if inspect.isawaitable(parsed):
            return self._aw_parse_async(parsed)
        return self._aw_take(parsed)

    async def _aw_parse_async(self, parsed: Awaitable[Any]) -> Any:
        return self._aw_take(await parsed)

    def _aw_take(self, parsed: Any) -> Any:
        if self._aw_done:
            return parsed
        _set(self, "_aw_done", True)
        return self._aw_then(parsed)

    def __del__(self) -> None:
        if not self._aw_done:
            _set(self, "_aw_done", True)
            end_call(self._aw_call)


class StreamManagerProxy(_Proxy):
    """A stream helper's context manager (``client.messages.stream(...)``,
    ``client.chat.completions.stream(...)``).

    ``enter(real_enter)`` runs the real ``__enter__`` / ``__aenter__`` (which sends the request)
    and returns the stream to give the caller; leaving the block ends the recorded call if the
    stream was not read to the end.
    """

    __slots__ = ("_aw_enter", "_aw_stream")

    def __init__(self, wrapped: Any, enter: Callable[[Callable[[], Any]], Any]) -> None:
        super().__init__(wrapped)
        self._aw_enter = enter
        self._aw_stream: Any = None

    def __enter__(self) -> Any:
        self._aw_stream = self._aw_enter(self._aw_wrapped.__enter__)
        return self._aw_stream

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return self._aw_wrapped.__exit__(*exc_info)
        finally:
            end_stream(self._aw_stream)

    async def __aenter__(self) -> Any:
        self._aw_stream = await self._aw_enter(self._aw_wrapped.__aenter__)
        return self._aw_stream

    async def __aexit__(self, *exc_info: Any) -> Any:
        try:
            return await self._aw_wrapped.__aexit__(*exc_info)
        finally:
            end_stream(self._aw_stream)
