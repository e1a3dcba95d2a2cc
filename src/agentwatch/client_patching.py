"""Which SDK methods an adapter wraps and which clients it records.

:func:`patch` / :class:`Patch` replace a method of an SDK class with a wrapper and put it back;
:class:`ClientSwitch` holds the clients to record (one by one, or all of them) and each one's
:class:`ClientSettings`; :class:`SDKInstrumentation` is the body of an adapter's ``instrument`` /
``uninstrument`` and of its ``BaseInstrumentor``. Nothing here imports a provider SDK.
"""

from __future__ import annotations

import functools
import importlib
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from agentwatch import errors
from agentwatch.http_exchange import install_http_hooks
from agentwatch.records import Inference

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

        config.configure_for_instrumentor(options, self.component)
        self.install()
        self.switch.enable_all(**settings)

    def uninstrument_all(self) -> None:
        """Stop recording every client; the SDK is restored unless single clients are still recorded."""
        self.switch.disable_all()
        if not self.switch.has_single_clients:
            self.remove()
