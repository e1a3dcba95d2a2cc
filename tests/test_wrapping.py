"""agentwatch.wrapping, without any SDK: patching, the client switch, HTTP attempts and headers,
and the stream proxies' transparency and ending rules."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Mapping
from typing import Any

import pytest

from agentwatch import names, wrapping
from agentwatch.call import Call
from agentwatch.records import Inference
from agentwatch.testing import Captured


class Stream:
    """An SDK-like stream: __next__, close(), a context manager, an attribute."""

    def __init__(self, items: list[Any], fail_at: int | None = None) -> None:
        self.items = list(items)
        self.fail_at = fail_at
        self.closed = False
        self.response = "the response"
        self.read = 0

    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> Any:
        if self.fail_at is not None and self.read == self.fail_at:
            raise ConnectionError("cut")
        if not self.items:
            raise StopIteration
        self.read += 1
        return self.items.pop(0)

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Collect(wrapping.StreamObserver):
    def __init__(self, hide: Any = None) -> None:
        self.seen: list[Any] = []
        self.ended: list[bool] = []
        self.hide = hide

    def on_item(self, call: Call, item: Any) -> bool:
        self.seen.append(item)
        return item != self.hide

    def on_end(self, call: Call, complete: bool) -> None:
        self.ended.append(complete)
        call.record_usage(input_tokens=3, output_tokens=len(self.seen))


def _call() -> Call:
    from agentwatch import _state

    assert _state.recorder is not None
    return _state.recorder.start(Inference(provider="openai", model="gpt-4o-mini"))


def _outcome(tel: Captured, outcome: str) -> float | None:
    return tel.sample(
        "agentwatch_llm_calls_total",
        provider="openai",
        model="gpt-4o-mini",
        operation="chat",
        outcome=outcome,
    )


def test_stream_proxy_is_transparent_and_ends_when_exhausted(tel: Captured) -> None:
    observer = Collect(hide="usage")
    raw = Stream(["a", "b", "usage"])
    proxy = wrapping.StreamProxy(raw, _call(), observer)
    assert isinstance(proxy, Stream)
    assert proxy.response == "the response"
    proxy.extra = 1
    assert raw.extra == 1  # type: ignore[attr-defined]
    assert list(proxy) == ["a", "b"]  # the hidden item never reaches the caller
    assert observer.ended == [True]
    span = tel.span("chat gpt-4o-mini")
    assert span.attributes["gen_ai.usage.output_tokens"] == 3
    assert span.attributes["gen_ai.response.time_to_first_chunk"] >= 0
    assert _outcome(tel, "ok") == 1


def test_closed_left_and_dropped_streams_are_interrupted(tel: Captured) -> None:
    proxy = wrapping.StreamProxy(Stream(["a", "b"]), _call(), Collect())
    next(proxy)
    proxy.close()
    assert proxy.closed
    with wrapping.StreamProxy(Stream(["a", "b"]), _call(), Collect()) as inside:
        next(inside)
    dropped = wrapping.StreamProxy(Stream(["a", "b"]), _call(), Collect())
    next(dropped)
    del dropped
    gc.collect()
    assert _outcome(tel, "interrupted") == 3
    assert len(tel.spans) == 3


def test_a_stream_read_only_through_its_iterator_ends_when_exhausted(tel: Captured) -> None:
    # ``for chunk in client.create(stream=True)``: the proxy itself is dropped as soon as the loop
    # has its iterator; the call must still end as read to the end, with every item seen
    observer = Collect()
    assert list(wrapping.StreamProxy(Stream(["a", "b", "c"]), _call(), observer)) == ["a", "b", "c"]
    assert observer.ended == [True]
    assert _outcome(tel, "ok") == 1 and _outcome(tel, "interrupted") is None
    assert tel.span("chat gpt-4o-mini").attributes["gen_ai.usage.output_tokens"] == 3


def test_next_and_iteration_share_one_iterator(tel: Captured) -> None:
    proxy = wrapping.StreamProxy(Stream(["a", "b", "c", "d"]), _call(), Collect())
    assert next(proxy) == "a"
    loop = iter(proxy)
    assert next(loop) == "b"
    assert next(proxy) == "c"
    assert list(loop) == ["d"]
    with pytest.raises(StopIteration):
        next(proxy)
    assert _outcome(tel, "ok") == 1


def test_a_dropped_half_read_stream_ends_at_once(tel: Captured) -> None:
    gc.disable()  # ended when the last reference goes, not by the garbage collector
    try:
        proxy = wrapping.StreamProxy(Stream(["a", "b", "c"]), _call(), Collect())
        loop = iter(proxy)
        next(loop)
        del proxy
        assert tel.spans == ()  # the iterator is still in use
        assert next(loop) == "b"
        del loop
        assert _outcome(tel, "interrupted") == 1
        never_read = wrapping.StreamProxy(Stream(["a"]), _call(), Collect())
        del never_read
        assert _outcome(tel, "interrupted") == 2
    finally:
        gc.enable()
    assert [s.attributes["gen_ai.usage.output_tokens"] for s in tel.spans] == [2, 0]


def test_an_error_mid_stream_fails_the_call(tel: Captured) -> None:
    proxy = wrapping.StreamProxy(Stream(["a", "b", "c"], fail_at=2), _call(), Collect())
    with pytest.raises(ConnectionError):
        list(proxy)
    span = tel.span("chat gpt-4o-mini")
    assert span.status.status_code.name == "ERROR"
    assert span.attributes["error.type"] == "ConnectionError"


class AsyncStream:
    def __init__(self, items: list[Any]) -> None:
        self.items = list(items)
        self.closed = False

    def __aiter__(self) -> AsyncStream:
        return self

    async def __anext__(self) -> Any:
        if not self.items:
            raise StopAsyncIteration
        return self.items.pop(0)

    async def close(self) -> None:
        self.closed = True


def test_async_stream_proxy(tel: Captured) -> None:
    async def run() -> list[Any]:
        proxy = wrapping.stream_proxy(AsyncStream(["a", "b"]), _call(), Collect())
        assert isinstance(proxy, wrapping.AsyncStreamProxy) and isinstance(proxy, AsyncStream)
        items = [item async for item in proxy]
        early = wrapping.stream_proxy(AsyncStream(["a", "b"]), _call(), Collect())
        await early.__anext__()
        await early.close()
        return items

    assert asyncio.run(run()) == ["a", "b"]
    assert (_outcome(tel, "ok"), _outcome(tel, "interrupted")) == (1, 1)


class Resource:
    def __init__(self, client: Any) -> None:
        self._client = client

    def create(self, **kwargs: Any) -> dict[str, Any]:
        return {"model": "gpt-4o-mini-2024-07-18", "usage": kwargs.get("tokens")}


class Client:
    def __init__(self) -> None:
        self.resource = Resource(self)

    def copy(self) -> Client:
        return Client()


def _record(settings: wrapping.ClientSettings, kwargs: Mapping[str, Any]) -> Inference:
    return wrapping.inference("openai", "chat", settings, kwargs, {})


def _read(call: Call, result: Any) -> None:
    call.set_response_model(result["model"])
    call.record_usage(input_tokens=result["usage"], output_tokens=1)


def test_patched_method_records_only_switched_on_clients(tel: Captured) -> None:
    switch: wrapping.ClientSwitch[wrapping.ClientSettings] = wrapping.ClientSwitch(
        "_aw_test", lambda client, settings: wrapping.ClientSettings(settings=dict(settings))
    )
    op = wrapping.Operation(record=_record, read=_read)
    patches = (
        wrapping.method_patch(__name__, "Resource", "create", op, switch, is_async=False),
        wrapping.Patch(__name__, "Client", "copy", switch.copy_wrapper),
    )
    wrapping.apply_patches(patches)
    try:
        assert wrapping.is_patched(Resource, "create")
        on, off = Client(), Client()
        switch.enable(on, flag=True)
        assert on.resource.create(model="gpt-4o-mini", tokens=7)["usage"] == 7
        off.resource.create(model="gpt-4o-mini", tokens=7)
        on.copy().resource.create(model="gpt-4o-mini", tokens=5)  # the copy is recorded too
        assert sorted(s.attributes["gen_ai.usage.input_tokens"] for s in tel.spans) == [5, 7]
        switch.disable(on)
        switch.enable_all()
        off.resource.create(model="gpt-4o-mini", tokens=9)
        switch.disable_all()
        off.resource.create(model="gpt-4o-mini", tokens=11)
        assert sorted(s.attributes["gen_ai.usage.input_tokens"] for s in tel.spans) == [5, 7, 9]
    finally:
        wrapping.remove_patches(patches)
    assert not wrapping.is_patched(Resource, "create")


class HttpClient:
    def __init__(self) -> None:
        self.event_hooks: dict[str, list[Any]] = {"request": [], "response": []}

    def send(self, status: int, headers: dict[str, str]) -> None:
        for hook in self.event_hooks["request"]:
            hook(object())
        for hook in self.event_hooks["response"]:
            hook(type("Response", (), {"headers": headers})())


def test_attempts_and_headers_come_from_http_hooks(tel: Captured) -> None:
    http = HttpClient()
    assert wrapping.install_http_hooks(http)
    assert wrapping.install_http_hooks(http)
    assert [len(v) for v in http.event_hooks.values()] == [1, 1]  # idempotent
    http.send(200, {"retry-after": "1"})  # no recorded call running: ignored

    def send_three(kwargs: dict[str, Any]) -> str:
        http.send(429, {"retry-after": "2", "x-ratelimit-remaining-requests": "0", "authorization": "x"})
        http.send(429, {"retry-after": "1"})
        http.send(200, {"x-ratelimit-remaining-requests": "41"})
        return "done"

    op = wrapping.Operation(
        record=_record, read=_read, keep_headers=("retry-after", "x-ratelimit-remaining-requests")
    )
    result, call, _ = wrapping.run_recorded(
        op, wrapping.ClientSettings(), {"model": "gpt-4o-mini"}, send_three
    )
    assert result == "done" and call is not None
    wrapping.end_call(call)
    attributes = tel.span("chat gpt-4o-mini").attributes
    assert attributes["agentwatch.attempts"] == 3
    assert attributes["http.response.header.x-ratelimit-remaining-requests"] == ("41",)
    assert "http.response.header.retry-after" not in attributes  # the last answer's headers only
    assert not any("authorization" in key for key in attributes)


def test_deferred_raw_response(tel: Captured) -> None:
    class Raw:
        http_response = "http"

        def parse(self) -> dict[str, Any]:
            return {"model": "gpt-4o-mini-2024-07-18", "usage": 4}

    switch: wrapping.ClientSwitch[wrapping.ClientSettings] = wrapping.ClientSwitch(
        "_aw_raw", lambda client, settings: wrapping.ClientSettings()
    )
    op = wrapping.Operation(record=_record, read=_read)
    method = wrapping.wrap_method(lambda self, **kw: Raw(), op, switch, is_async=False)
    client = Client()
    switch.enable(client)
    raw = method(client.resource, model="gpt-4o-mini")
    assert isinstance(raw, Raw) and tel.spans == ()
    assert raw.parse()["usage"] == 4
    assert tel.span("chat gpt-4o-mini").attributes["gen_ai.usage.input_tokens"] == 4


TEMPERATURE = names.GEN_AI_REQUEST_TEMPERATURE


def test_records_of_repeated_requests_are_made_once_per_client(tel: Captured) -> None:
    made: list[Mapping[str, Any]] = []

    def record(settings: wrapping.ClientSettings, kwargs: Mapping[str, Any]) -> Inference:
        made.append(kwargs)
        temperature = kwargs.get("temperature")
        request = {} if temperature is None or isinstance(temperature, bool) else {TEMPERATURE: temperature}
        return wrapping.inference(
            "openai", "chat", settings, kwargs, request, input_messages=kwargs.get("messages")
        )

    op = wrapping.Operation(record=record, read=_read, record_keys=("model", "stream", "temperature", "stop"))
    settings = wrapping.ClientSettings(server_address="127.0.0.1")

    def send(**kwargs: Any) -> None:
        _, call, _ = wrapping.run_recorded(op, settings, kwargs, lambda sent: {"model": "m", "usage": 1})
        assert call is not None
        wrapping.end_call(call)

    send(model="gpt-4o-mini", messages=["first"], temperature=1)
    send(model="gpt-4o-mini", messages=["second"], temperature=1)  # same arguments, content aside
    assert len(made) == 1
    (cached,) = settings.records.values()
    assert cached.input_messages is None and cached.model == "gpt-4o-mini"  # no prompt kept alive
    send(model="gpt-4o-mini", messages=["third"], temperature=True)  # == 1, but not the same argument
    send(model="gpt-4o-mini", messages=["fourth"], temperature=1.0)
    send(model="gpt-4o-mini", messages=["fifth"], stop=["\n"])  # unhashable: made every time
    send(model="gpt-4o-mini", messages=["sixth"], stop=["\n"])
    assert len(made) == 5 and len(settings.records) == 3
    temperatures = [s.attributes.get(TEMPERATURE) for s in tel.spans]
    assert temperatures == [1, 1, None, 1.0, None, None]
    assert [type(t) for t in temperatures[:4]] == [int, int, type(None), float]
    assert {s.attributes["server.address"] for s in tel.spans} == {"127.0.0.1"}

    for i in range(2 * wrapping._MAX_RECORDS):  # many distinct requests: the cache stays bounded
        send(model=f"model-{i}", messages=[])
    assert len(settings.records) == wrapping._MAX_RECORDS


def test_records_are_made_per_call_when_content_is_captured() -> None:
    from agentwatch.testing import capture

    made: list[Any] = []

    def record(settings: wrapping.ClientSettings, kwargs: Mapping[str, Any]) -> Inference:
        made.append(kwargs["messages"])
        return wrapping.inference("openai", "chat", settings, kwargs, {}, input_messages=kwargs["messages"])

    op = wrapping.Operation(record=record, read=_read, record_keys=("model",))
    settings = wrapping.ClientSettings()
    with capture(capture_content=True) as tel:
        for text in ("first", "second"):
            _, call, _ = wrapping.run_recorded(
                op, settings, {"model": "gpt-4o-mini", "messages": text}, lambda sent: None
            )
            assert call is not None
            wrapping.end_call(call)
        assert made == ["first", "second"] and settings.records == {}
        assert [s.attributes["gen_ai.input.messages"] for s in tel.spans] == ["first", "second"]
