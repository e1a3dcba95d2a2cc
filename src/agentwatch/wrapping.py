"""Building blocks for adapters that wrap a provider SDK client (``agentwatch_openai``,
``agentwatch_anthropic``): method patching, which clients are recorded, the attempts and response
headers the HTTP layer saw during a call, and transparent proxies for streamed answers.

Nothing here imports a provider SDK; adapters describe their SDK with plain callables.

How a wrapped SDK method records a call (:func:`wrap_method`):

1. If agentwatch is not configured, or the client is not instrumented, the original method runs
   and nothing else happens (one dict lookup).
2. Otherwise the adapter's :class:`Operation` builds an :class:`~agentwatch.records.Inference`
   from the call's arguments (once per client for repeated arguments, see
   :attr:`Operation.record_keys`); the recorder opens its span, which is made current while the
   SDK works, and an :class:`Exchange` counts the HTTP attempts (the SDK's own retries) and keeps
   the last response's headers, read (allow-listed: rate limits, ``retry-after``) only when the
   call was retried or failed.
3. The SDK's exception reaches the caller unchanged; the call ends with it (``error.type``).
4. A plain result is read by the operation and the call ends. A stream is handed back inside a
   :class:`StreamProxy`: the call ends when the stream is exhausted, fails, is closed, or is
   dropped half-read (outcome ``interrupted``).

Everything per call or per streamed chunk is on the hot path: what can be decided once (a client's
settings and records, the kind of a result class) is, and nothing there does I/O or holds a lock.

Threading contract: everything here may run on any thread or task and never raises into the
caller; failures are counted by :func:`agentwatch.errors.report`.
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import importlib
import inspect
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from opentelemetry import context as otel_context

from agentwatch import _state, errors, forking, names
from agentwatch import parenting as _parenting
from agentwatch.call import Call
from agentwatch.records import AttributeValue, Inference
from agentwatch.usage import Usage

T = TypeVar("T")

_ORIGINAL = "__agentwatch_original__"


# --- patching ----------------------------------------------------------------------------------
def patch(owner: type, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> bool:
    """Replace ``owner.name`` with ``make(original)``; False when there is no such method or it is
    already patched. The original is kept on the wrapper for :func:`unpatch`."""
    original = owner.__dict__.get(name)
    if original is None or hasattr(original, _ORIGINAL):
        return False
    wrapper = make(original)
    setattr(wrapper, _ORIGINAL, original)
    setattr(owner, name, wrapper)
    return True


def unpatch(owner: type, name: str) -> None:
    """Put back what :func:`patch` replaced (a no-op when ``owner.name`` is not patched)."""
    current = owner.__dict__.get(name)
    original = getattr(current, _ORIGINAL, None)
    if original is not None:
        setattr(owner, name, original)


def is_patched(owner: type, name: str) -> bool:
    return hasattr(owner.__dict__.get(name), _ORIGINAL)


Maker = Callable[[Callable[..., Any]], Callable[..., Any]]


@dataclass(frozen=True)
class Patch:
    """``module.owner.method`` is replaced by ``make(original)``; skipped when the SDK version
    installed has no such method."""

    module: str
    owner: str
    method: str
    make: Maker

    def target(self) -> type | None:
        try:
            found = getattr(importlib.import_module(self.module), self.owner)
        except (ImportError, AttributeError):
            return None
        return found if isinstance(found, type) else None


def apply_patches(patches: Iterable[Patch]) -> None:
    """Apply every patch whose target exists (idempotent)."""
    for p in patches:
        owner = p.target()
        if owner is not None:
            patch(owner, p.method, p.make)


def remove_patches(patches: Iterable[Patch]) -> None:
    for p in patches:
        owner = p.target()
        if owner is not None:
            unpatch(owner, p.method)


# --- which clients are recorded ------------------------------------------------------------------
class ClientSwitch(Generic[T]):
    """Which SDK clients an adapter records, and each one's settings.

    A client instrumented on its own carries its settings (made by ``factory(client, settings)``)
    in its ``__dict__`` under ``attr``; with :meth:`enable_all`, every client gets them on first use.
    """

    def __init__(self, attr: str, factory: Callable[[Any, Mapping[str, Any]], T]) -> None:
        self.attr = attr
        self._attr_all = attr + "_all"
        self.factory = factory
        self.all_settings: Mapping[str, Any] | None = None
        self._clients: weakref.WeakSet[Any] = weakref.WeakSet()

    def settings(self, client: Any) -> T | None:
        """The settings to record ``client`` with, or None when it is not recorded."""
        try:
            own: dict[str, Any] = client.__dict__
        except AttributeError:
            return None
        found: T | None = own.get(self.attr)
        if found is not None or self.all_settings is None:
            return found
        # every client is recorded: settings made on first use, dropped with disable_all()
        found = own.get(self._attr_all)
        return found if found is not None else self._attach(client, self.all_settings, self._attr_all)

    def _attach(self, client: Any, settings: Mapping[str, Any], attr: str) -> T | None:
        try:
            made = self.factory(client, settings)
            client.__dict__[attr] = made
            return made
        except Exception as exc:
            errors.report("instrumentation", exc)
            return None

    def enable(self, client: Any, **settings: Any) -> bool:
        """Record this client (and the copies ``with_options`` makes of it)."""
        if self._attach(client, settings, self.attr) is None:
            return False
        try:
            self._clients.add(client)
        except TypeError:
            pass
        return True

    def disable(self, client: Any) -> None:
        try:
            client.__dict__.pop(self.attr, None)
            self._clients.discard(client)
        except (AttributeError, TypeError):
            pass

    def enable_all(self, **settings: Any) -> None:
        self.all_settings = dict(settings)

    def disable_all(self) -> None:
        self.all_settings = None

    @property
    def has_single_clients(self) -> bool:
        """Whether some client was instrumented on its own (and is still alive)."""
        return len(self._clients) > 0

    def copy_wrapper(self, original: Callable[..., Any]) -> Callable[..., Any]:
        """A wrapper for the SDK's ``copy`` / ``with_options``: the copy of an instrumented client is
        instrumented with the same settings."""
        switch = self

        @functools.wraps(original)
        def copy(client: Any, *args: Any, **kwargs: Any) -> Any:
            new = original(client, *args, **kwargs)
            try:
                own = client.__dict__.get(switch.attr)
                if own is not None and new is not client:
                    switch.enable(new, **getattr(own, "settings", {}))
            except Exception as exc:
                errors.report("instrumentation", exc)
            return new

        return copy


@dataclass(frozen=True)
class ClientSettings:
    """How one instrumented client is recorded: what it was instrumented with, and where it sends.

    ``records`` caches the records of this client's repeated requests (see :attr:`Operation.record_keys`).
    """

    settings: Mapping[str, Any] = field(default_factory=dict)
    server_address: str | None = None
    server_port: int | None = None
    records: dict[Any, Inference] = field(default_factory=dict, compare=False, repr=False)

    def flag(self, name: str) -> bool:
        return bool(self.settings.get(name))


def client_settings(client: Any, settings: Mapping[str, Any]) -> ClientSettings:
    """Settings for a Stainless-style SDK client (``base_url``, an httpx ``_client``): its server
    address, and the HTTP hooks installed on its HTTP client."""
    address = port = None
    try:
        url = client.base_url
        address = url.host or None
        port = url.port
    except Exception as exc:
        errors.report("instrumentation", exc)
    http_client = getattr(client, "_client", None)
    if http_client is not None:
        install_http_hooks(http_client)
    return ClientSettings(settings=dict(settings), server_address=address, server_port=port)


# --- what the HTTP layer saw during one call -------------------------------------------------------
class Exchange:
    """Attempts made, and the last response's headers, while one SDK call ran."""

    __slots__ = ("attempts", "keep", "last_headers")

    def __init__(self, keep: Iterable[str]) -> None:
        self.keep = keep
        self.attempts = 0
        self.last_headers: Any = None

    def headers(self) -> dict[str, str]:
        """The allow-listed headers of the last response."""
        found: dict[str, str] = {}
        if self.last_headers is not None:
            get = self.last_headers.get
            for name in self.keep:
                value = get(name)
                if value is not None:
                    found[name] = value
        return found

    def apply(self, call: Call, failed: bool = False) -> None:
        """When the SDK retried, or the call failed: the attempt count (after retries) and the last
        response's allow-listed headers (rate limits, ``retry-after``). A plain successful call gets
        neither, so it pays nothing for them."""
        if self.attempts > 1:
            call.set_attempts(self.attempts)
        elif not failed:
            return
        for name, value in self.headers().items():
            call.set_attribute(_header_attribute(name), (value,))


@functools.lru_cache(maxsize=256)
def _header_attribute(header: str) -> str:
    return names.HTTP_RESPONSE_HEADER_PREFIX + header


_EXCHANGE: contextvars.ContextVar[Exchange | None] = contextvars.ContextVar(
    "agentwatch_exchange", default=None
)


def _on_request(request: Any) -> None:
    exchange = _EXCHANGE.get()
    if exchange is not None:
        exchange.attempts += 1


def _on_response(response: Any) -> None:
    exchange = _EXCHANGE.get()
    if exchange is not None:
        try:
            exchange.last_headers = response.headers  # read only if the call needs them
        except Exception as exc:
            errors.report("instrumentation", exc)


async def _on_request_async(request: Any) -> None:
    _on_request(request)


async def _on_response_async(response: Any) -> None:
    _on_response(response)


_hooks_lock = threading.Lock()


def _after_fork() -> None:
    global _hooks_lock
    _hooks_lock = threading.Lock()


forking.register(_after_fork)


def install_http_hooks(http_client: Any) -> bool:
    """Add the attempt / header hooks to an httpx-style client (``event_hooks``); idempotent.

    The hooks only act while a recorded call runs in the same thread or task, so a client shared
    with code that is not instrumented is unaffected.
    """
    try:
        hooks = getattr(http_client, "event_hooks", None)
        if not isinstance(hooks, dict):
            return False
        pairs: tuple[tuple[str, Callable[[Any], Any]], ...]
        if inspect.iscoroutinefunction(getattr(http_client, "send", None)):
            pairs = (("request", _on_request_async), ("response", _on_response_async))
        else:
            pairs = (("request", _on_request), ("response", _on_response))
        with _hooks_lock:  # two threads using a new client at once must not add the hooks twice
            for kind, hook in pairs:
                found = hooks.setdefault(kind, [])
                if hook not in found:
                    found.append(hook)
        return True
    except Exception as exc:
        errors.report("instrumentation", exc)
        return False


# --- one SDK method ----------------------------------------------------------------------------------
class StreamObserver:
    """Reads a streamed answer. Subclasses override what they need; none of it may be slow."""

    __slots__ = ()

    def on_item(self, call: Call, item: Any) -> bool:
        """Look at one item; return False to hide it from the caller (an injected usage chunk)."""
        return True

    def on_end(self, call: Call, complete: bool) -> None:
        """Fill the call (usage, finish reasons ...) once the stream ended, fully read or not."""


@dataclass(frozen=True, eq=False)
class Operation:
    """How one SDK method is recorded.

    ``record(settings, kwargs)`` describes the call; ``prepare(settings, kwargs)`` may return other
    keyword arguments to send (or None to send them unchanged); ``read(call, result)`` reads a plain
    result; ``observe(settings, kwargs, record)`` makes the observer of a streamed one;
    ``is_stream(result)`` tells a stream from a plain result (asked once per class of result).

    ``record_keys``: the arguments ``record`` reads, content (messages, instructions) aside. When
    given, and content is not captured, the record of a request whose arguments are all hashable
    is made once per client (:class:`ClientSettings`) and reused for the same arguments.
    """

    record: Callable[[Any, Mapping[str, Any]], Inference]
    read: Callable[[Call, Any], None]
    observe: Callable[[Any, Mapping[str, Any], Inference], StreamObserver] | None = None
    is_stream: Callable[[Any], bool] | None = None
    prepare: Callable[[Any, dict[str, Any]], dict[str, Any] | None] | None = None
    keep_headers: tuple[str, ...] = ()
    record_keys: tuple[str, ...] = ()
    #: what each class of result is (_PLAIN, _STREAM or _RAW), decided once per class
    kinds: dict[type, int] = field(default_factory=dict, init=False, repr=False)


class _InFlight(Exchange):
    """A started call: current (with its exchange) while the SDK works, until :meth:`leave`."""

    __slots__ = ("call", "context_token", "exchange_token", "record", "sent")

    def __init__(self, call: Call, record: Inference, keep: tuple[str, ...], sent: dict[str, Any]) -> None:
        super().__init__(keep)
        self.call = call
        self.record = record
        self.sent = sent
        self.exchange_token: contextvars.Token[Exchange | None] = _EXCHANGE.set(self)
        self.context_token: object = otel_context.attach(_parenting.context_with(call))

    def leave(self, failed: bool = False) -> None:
        try:
            otel_context.detach(self.context_token)  # type: ignore[arg-type]
            _EXCHANGE.reset(self.exchange_token)
        except Exception as exc:
            errors.report("context", exc)
        if failed or self.attempts > 1:
            try:
                self.apply(self.call, failed)
            except Exception as exc:
                errors.report("instrumentation", exc)


_MAX_RECORDS = 64
"""Records cached per client: enough for the models and settings an application uses; a client that
sends more distinct requests gets the others made per call."""


def _start(op: Operation, settings: Any, kwargs: dict[str, Any]) -> _InFlight | None:
    recorder = _state.recorder
    if recorder is None:
        return None
    try:
        sent = kwargs
        if op.prepare is not None:
            sent = op.prepare(settings, kwargs) or kwargs
        if op.record_keys and not recorder.capture_content:
            record = _cached_record(op, settings, kwargs)
        else:
            record = op.record(settings, kwargs)
        return _InFlight(recorder.start(record), record, op.keep_headers, sent)
    except Exception as exc:
        errors.report("instrumentation", exc)
        return None


def _cached_record(op: Operation, settings: Any, kwargs: dict[str, Any]) -> Inference:
    """``op.record(settings, kwargs)``, made once per client for the same arguments (content aside)."""
    cache: dict[Any, Inference] | None = getattr(settings, "records", None)
    if cache is None:
        return op.record(settings, kwargs)
    values = tuple(map(kwargs.get, op.record_keys))
    key = (op, values, tuple(map(type, values)))  # the types: True == 1 == 1.0, but not as attributes
    try:
        found = cache.get(key)
    except TypeError:  # an unhashable argument (a list of stop sequences, a dict): not cached
        return op.record(settings, kwargs)
    if found is None:
        found = op.record(settings, kwargs)
        if len(cache) < _MAX_RECORDS:  # cached without content: never keep a prompt alive
            cache[key] = dataclasses.replace(found, input_messages=None, system_instructions=None)
    return found


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


def _result(op: Operation, settings: Any, kwargs: Mapping[str, Any], flight: _InFlight, result: Any) -> Any:
    call = flight.call
    try:
        kind = op.kinds.get(type(result))
        if kind is None:
            kind = _kind(op, result)
        if kind == _STREAM:
            return stream_proxy(result, call, op.observe(settings, kwargs, flight.record))  # type: ignore[misc]
        if kind == _RAW and hasattr(result, "http_response"):

            def then(parsed: Any) -> Any:
                return _result(op, settings, kwargs, flight, parsed)

            return DeferredResponse(result, then, call)
        op.read(call, result)
    except Exception as exc:
        errors.report("instrumentation", exc)
    end_call(call)
    return result


_PLAIN, _STREAM, _RAW = 0, 1, 2


def _kind(op: Operation, result: Any) -> int:
    """A stream, the SDK's ``with_raw_response`` / ``with_streaming_response`` wrapper (parsed
    later), or a plain result: decided once per class of result."""
    cls = type(result)
    if op.observe is not None and op.is_stream is not None and op.is_stream(result):
        kind = _STREAM
    elif callable(getattr(cls, "parse", None)):
        kind = _RAW
    else:
        kind = _PLAIN
    if len(op.kinds) < 256:
        op.kinds[cls] = kind
    return kind


def method_patch(
    module: str, owner: str, method: str, op: Operation, switch: ClientSwitch[Any], *, is_async: bool
) -> Patch:
    """A :class:`Patch` that records ``op`` for the clients ``switch`` lets through."""
    return Patch(
        module, owner, method, functools.partial(wrap_method, op=op, switch=switch, is_async=is_async)
    )


def wrap_method(
    original: Callable[..., Any], op: Operation, switch: ClientSwitch[Any], *, is_async: bool
) -> Callable[..., Any]:
    """A wrapper for a resource method (``self._client`` is the SDK client).

    ``is_async``: the method returns a coroutine (SDK methods often do so through a plain decorator,
    so this is not guessed).
    """
    if is_async:

        @functools.wraps(original)
        async def async_method(self: Any, *args: Any, **kwargs: Any) -> Any:
            if _state.recorder is None:
                return await original(self, *args, **kwargs)
            settings = switch.settings(getattr(self, "_client", None))
            flight = _start(op, settings, kwargs) if settings is not None else None
            if flight is None:
                return await original(self, *args, **kwargs)
            try:
                result = await original(self, *args, **flight.sent)
            except BaseException as exc:
                flight.leave(failed=True)
                end_call(flight.call, exc)
                raise
            flight.leave()
            return _result(op, settings, kwargs, flight, result)

        return async_method

    @functools.wraps(original)
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _state.recorder is None:
            return original(self, *args, **kwargs)
        settings = switch.settings(getattr(self, "_client", None))
        flight = _start(op, settings, kwargs) if settings is not None else None
        if flight is None:
            return original(self, *args, **kwargs)
        try:
            result = original(self, *args, **flight.sent)
        except BaseException as exc:
            flight.leave(failed=True)
            end_call(flight.call, exc)
            raise
        flight.leave()
        return _result(op, settings, kwargs, flight, result)

    return method


def run_recorded(
    op: Operation, settings: Any, kwargs: dict[str, Any], run: Callable[[dict[str, Any]], T]
) -> tuple[T, Call | None, Inference | None]:
    """Run ``run(kwargs)`` as one recorded call that the caller ends (a stream helper's request).

    Returns the result, the call (None when nothing is recorded) and its record. An exception ends
    the call and propagates.
    """
    flight = _start(op, settings, kwargs)
    if flight is None:
        return run(kwargs), None, None
    try:
        result = run(flight.sent)
    except BaseException as exc:
        flight.leave(failed=True)
        end_call(flight.call, exc)
        raise
    flight.leave()
    return result, flight.call, flight.record


async def run_recorded_async(
    op: Operation, settings: Any, kwargs: dict[str, Any], run: Callable[[dict[str, Any]], Awaitable[T]]
) -> tuple[T, Call | None, Inference | None]:
    """:func:`run_recorded` for a coroutine."""
    flight = _start(op, settings, kwargs)
    if flight is None:
        return await run(kwargs), None, None
    try:
        result = await run(flight.sent)
    except BaseException as exc:
        flight.leave(failed=True)
        end_call(flight.call, exc)
        raise
    flight.leave()
    return result, flight.call, flight.record


# --- reading SDK objects --------------------------------------------------------------------------------
def get(obj: Any, key: str) -> Any:
    """``obj.key``, or ``obj[key]`` for a dict (SDK objects and plain dicts of the same JSON)."""
    if type(obj) is dict:  # not isinstance(Mapping): this runs for every streamed chunk
        return obj.get(key)
    return getattr(obj, key, None)


def capturing() -> bool:
    """Whether content (prompts, answers) is kept: only then is it worth building."""
    recorder = _state.recorder
    return recorder is not None and recorder.capture_content


def request_numbers(kwargs: Mapping[str, Any], spec: Iterable[tuple[str, str]]) -> dict[str, AttributeValue]:
    """``{attribute: value}`` for the numeric request arguments named in ``spec`` (argument, attribute);
    anything else (an SDK's "not given" marker, a bool) is left out."""
    found: dict[str, AttributeValue] = {}
    for key, attribute in spec:
        value = kwargs.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            found[attribute] = value
    return found


def inference(
    provider: str,
    operation: str,
    settings: ClientSettings,
    kwargs: Mapping[str, Any],
    request: Mapping[str, AttributeValue],
    *,
    input_messages: Any = None,
    system_instructions: Any = None,
) -> Inference:
    """The record of one SDK call: model and streaming from its arguments, server from the client."""
    model = kwargs.get("model")
    return Inference(
        provider=provider,
        model=model if isinstance(model, str) and model else names.UNKNOWN_LABEL_VALUE,
        operation=operation,
        request=request,
        streaming=kwargs.get("stream") is True,
        server_address=settings.server_address,
        server_port=settings.server_port,
        input_messages=input_messages,
        system_instructions=system_instructions,
    )


def read_identity(call: Call, answer: Any, usage_from: Callable[[Any], Usage | None]) -> None:
    """Usage (through the provider's normaliser), response model and id of an SDK answer."""
    if type(answer) is dict:
        usage, model, response_id = answer.get("usage"), answer.get("model"), answer.get("id")
    else:
        usage = getattr(answer, "usage", None)
        model = getattr(answer, "model", None)
        response_id = getattr(answer, "id", None)
    if usage is not None:
        call.set_usage(usage_from(usage))
    call.set_response_model(model)
    call.set_response_id(response_id)


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


# --- one adapter's instrumentation ---------------------------------------------------------------------
class SDKInstrumentation:
    """What one adapter patches and which clients it records: the body of its ``instrument(client)``,
    ``uninstrument(client)`` and of its ``BaseInstrumentor``."""

    def __init__(self, component: str, switch: ClientSwitch[Any], patches: Iterable[Patch]) -> None:
        self.component = component
        self.switch = switch
        self.patches = tuple(patches)

    def install(self) -> None:
        """Wrap the SDK's methods (idempotent)."""
        apply_patches(self.patches)

    def remove(self) -> None:
        """Put the SDK's methods back."""
        remove_patches(self.patches)

    def instrument_client(self, client: T, **settings: Any) -> T:
        try:
            self.install()
            self.switch.enable(client, **settings)
        except Exception as exc:
            errors.report(self.component, exc)
        return client

    def uninstrument_client(self, client: Any) -> None:
        self.switch.disable(client)

    def instrument_all(self, options: Mapping[str, Any], **settings: Any) -> None:
        """Record every client. ``options`` are the instrumentor's: when agentwatch is not configured
        and ``configure`` is not false, :func:`agentwatch.configure` is called with the given
        ``tracer_provider`` / ``meter_provider``."""
        from agentwatch import config

        if options.get("configure", True) and config.current() is None:
            try:
                config.configure(
                    tracer_provider=options.get("tracer_provider"),
                    meter_provider=options.get("meter_provider"),
                )
            except Exception as exc:  # a bad environment must not stop the application
                errors.report(self.component, exc)
        self.install()
        self.switch.enable_all(**settings)

    def uninstrument_all(self) -> None:
        """Stop recording every client; the SDK is restored unless single clients are still recorded."""
        self.switch.disable_all()
        if not self.switch.has_single_clients:
            self.remove()
