"""Building blocks for adapters that wrap a provider SDK client (``agentwatch_openai``,
``agentwatch_anthropic``): how one SDK method call is recorded, and helpers to read SDK objects.
The other blocks live next to this module and are importable from here as well: method patching
and which clients are recorded (:mod:`agentwatch.client_patching`), the attempts and response
headers the HTTP layer saw during a call (:mod:`agentwatch.http_exchange`), and transparent
proxies for streamed answers (:mod:`agentwatch.stream_proxies`).

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
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from opentelemetry import context as otel_context

from agentwatch import _state, errors, names
from agentwatch import parenting as _parenting
from agentwatch.call import Call
from agentwatch.client_patching import (
    ClientSettings,
    ClientSwitch,
    Patch,
    SDKInstrumentation,
    apply_patches,
    client_settings,
    is_patched,
    patch,
    remove_patches,
    unpatch,
)
from agentwatch.http_exchange import _EXCHANGE, Exchange, install_http_hooks
from agentwatch.records import AttributeValue, Inference
from agentwatch.stream_proxies import (
    AsyncStreamProxy,
    DeferredResponse,
    StreamManagerProxy,
    StreamObserver,
    StreamProxy,
    end_call,
    end_stream,
    stream_proxy,
)
from agentwatch.usage import Usage

# What an adapter builds on: defined here or in the modules that hold each part.
__all__ = [
    "AsyncStreamProxy", "ClientSettings", "ClientSwitch", "DeferredResponse", "Exchange", "Operation",
    "Patch", "SDKInstrumentation", "StreamManagerProxy", "StreamObserver", "StreamProxy",
    "apply_patches", "capturing", "client_settings", "end_call", "end_stream", "get", "inference",
    "install_http_hooks", "is_patched", "method_patch", "patch", "read_identity", "remove_patches",
    "request_numbers", "run_recorded", "run_recorded_async", "stream_proxy", "unpatch", "wrap_method",
]

T = TypeVar("T")


# --- one SDK method ----------------------------------------------------------------------------------
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
