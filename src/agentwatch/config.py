"""``configure()`` and ``shutdown()``: the single entry point that wires providers, sinks and prices.

Arguments win over the standard ``OTEL_*`` environment variables, which win over defaults. Bad
settings fail here, with a message that names the setting; nothing fails later at call time.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import ProxyTracerProvider, Span, Tracer, TracerProvider
from opentelemetry.util._decorator import _agnosticcontextmanager
from prometheus_client import CollectorRegistry

from agentwatch import _state, errors, names
from agentwatch.errors import ConfigurationError
from agentwatch.recorder import Recorder, RedactFn, Sink
from agentwatch.sinks.memory import MemorySink
from agentwatch.sinks.otel_metrics import OTelMetricsSink
from agentwatch.sinks.prometheus import PrometheusSink

logger = logging.getLogger("agentwatch")

__version__ = "0.1.0"
_EXPORTERS = ("otlp", "console", "file", "none")
_lock = threading.Lock()
_current: Telemetry | None = None


@dataclass
class Telemetry:
    """What :func:`configure` built. ``shutdown()`` flushes and stops what agentwatch owns."""

    recorder: Recorder
    tracer_provider: TracerProvider
    prometheus: PrometheusSink
    registry: CollectorRegistry
    memory: MemorySink | None = None
    price_book: Any = None
    owns_tracer_provider: bool = False
    exporters: tuple[str, ...] = ()
    metrics_server: Any = None
    metrics_url: str | None = None
    #: where spans are written when the "file" exporter (the embedded default) is in use
    spans_path: Path | None = None
    #: what /metrics serves: ``registry``, or in multiprocess mode one aggregating every worker's files
    exposition_registry: CollectorRegistry | None = None
    #: PROMETHEUS_MULTIPROC_DIR when prometheus-client's multiprocess mode is active
    multiprocess_dir: str | None = None
    _closers: list[Callable[[], None]] = field(default_factory=list)
    _closed: bool = False

    def force_flush(self, timeout_millis: int = 5000) -> bool:
        """Complete the calls waiting for their batch, apply the records waiting for a metrics batch,
        and export the spans waiting for one."""
        self.recorder.flush()
        self.prometheus.flush()
        flush = getattr(self.tracer_provider, "force_flush", None)
        if flush is None:
            return True
        try:
            return bool(flush(timeout_millis))
        except Exception as exc:
            errors.report("shutdown", exc)
            return False

    def shutdown(self, timeout_millis: int = 5000) -> None:
        if self._closed:
            return
        self._closed = True
        self.recorder.close()  # calls still waiting end their spans while the processors take them
        if self.owns_tracer_provider:
            _GLOBAL.release(self.tracer_provider)
            self.force_flush(timeout_millis)
            try:
                self.tracer_provider.shutdown()  # type: ignore[attr-defined]
            except Exception as exc:
                errors.report("shutdown", exc)
        for close in reversed(self._closers):
            try:
                close()
            except Exception as exc:
                errors.report("shutdown", exc)


def _env_flag(name: str) -> bool | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip().lower() in ("1", "true", "yes", "on")


def _capture_from_env() -> bool:
    value = os.environ.get(names.ENV_CAPTURE_CONTENT, "").strip().upper()
    if value in ("", "NO_CONTENT", "FALSE", "0", "NONE"):
        return False
    if value in ("SPAN_ONLY", "SPAN_AND_EVENT", "EVENT_ONLY", "TRUE", "1"):
        return True
    raise ConfigurationError(
        f"{names.ENV_CAPTURE_CONTENT}={os.environ[names.ENV_CAPTURE_CONTENT]!r} is not one of "
        "NO_CONTENT, SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT, true, false"
    )


def _default_exporters() -> tuple[str, ...]:
    """``OTEL_TRACES_EXPORTER`` if set; else OTLP when an endpoint is set; else the local file."""
    env = os.environ
    wanted = env.get(names.ENV_TRACES_EXPORTER)
    if wanted:
        chosen = tuple(x.strip() for x in wanted.split(",") if x.strip() in _EXPORTERS)
        if chosen:
            return chosen
        logger.warning("agentwatch: %s=%r names no exporter agentwatch knows (%s); using the default",
                       names.ENV_TRACES_EXPORTER, wanted, ", ".join(_EXPORTERS))
    if env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return ("otlp",)
    return ("file",)


def _otlp_exporter() -> Any:
    protocol = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter()
    if protocol in ("http/protobuf", "http"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

        return HttpExporter()
    raise ConfigurationError(
        f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not supported: use 'grpc' or 'http/protobuf'"
    )


def _build_tracer_provider(
    service_name: str | None, exporters: Sequence[str], spans_file: str | os.PathLike[str] | None,
    spans_file_max_bytes: int | None = None,
) -> TracerProvider:
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

    # Batched like the SDK's BatchSpanProcessor, plus a hard queue bound, bounded flush and
    # shutdown, and the kept / dropped counts (agentwatch_spans_dropped_total).
    from agentwatch.delivery import GuardedSpanProcessor as BatchSpanProcessor

    attrs = {SERVICE_NAME: service_name} if service_name else {}
    provider = SdkTracerProvider(resource=Resource.create(attrs))
    for name in exporters:
        if name == "otlp":
            provider.add_span_processor(BatchSpanProcessor(_otlp_exporter()))
        elif name == "console":
            provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
        elif name == "file":
            from agentwatch.exporters.file import OTLPJsonFileExporter

            file_exporter = OTLPJsonFileExporter(_spans_path(spans_file), max_bytes=_spans_max_bytes(
                spans_file_max_bytes))
            provider.add_span_processor(BatchSpanProcessor(file_exporter))
    return provider


def _load_prices(prices: Any) -> Any:
    from agentwatch import pricing

    source = prices if prices is not None else os.environ.get(names.ENV_PRICES_FILE) or None
    book = pricing.PriceBook.default() if source is None else pricing.PriceBook.from_source(source)
    return book


def configure(
    service_name: str | None = None,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    prometheus_registry: CollectorRegistry | None = None,
    prometheus_port: int | None = None,
    prices: str | os.PathLike[str] | Mapping[str, Any] | Any | None = None,
    capture_content: bool | None = None,
    *,
    exporters: Sequence[str] | None = None,
    prometheus_host: str = "127.0.0.1",
    namespace: str = names.DEFAULT_NAMESPACE,
    max_label_values: int = 200,
    exemplars: bool = True,
    spans_file: str | os.PathLike[str] | None = None,
    spans_file_max_bytes: int | None = None,
    redact: RedactFn | None = None,
    content_max_chars: int = 16_384,
    keep_records: bool = False,
) -> Telemetry:
    """Turn agentwatch on (again): build or adopt the tracer provider, metric sinks and price book.

    Calling it again replaces the previous configuration (which is shut down first).
    """
    global _current
    # --- validate everything before touching global state --------------------------------------
    if service_name is None:
        service_name = os.environ.get(names.ENV_SERVICE_NAME) or None
    if capture_content is None:
        capture_content = _capture_from_env()
    elif not isinstance(capture_content, bool):
        raise ConfigurationError(f"capture_content must be True or False, not {capture_content!r}")
    if prometheus_port is not None and (
        not isinstance(prometheus_port, int) or isinstance(prometheus_port, bool)
        or not 0 <= prometheus_port <= 65535
    ):
        raise ConfigurationError(f"prometheus_port must be a port number 0-65535, not {prometheus_port!r}")
    if not isinstance(max_label_values, int) or max_label_values < 1:
        raise ConfigurationError(f"max_label_values must be a positive integer, not {max_label_values!r}")
    if not namespace or not namespace.replace("_", "a").isalnum() or namespace[0].isdigit():
        raise ConfigurationError(
            f"namespace must be a Prometheus name prefix like 'agentwatch', not {namespace!r}"
        )
    if content_max_chars < 0:
        raise ConfigurationError("content_max_chars must be >= 0")
    if redact is not None and not callable(redact):
        raise ConfigurationError("redact must be a callable (key, text) -> text | None")
    if exporters is not None:
        if isinstance(exporters, str):
            exporters = [exporters]
        unknown = [e for e in exporters if e not in _EXPORTERS]
        if unknown:
            raise ConfigurationError(f"exporters: unknown {unknown}; choose from {list(_EXPORTERS)}")
    _spans_max_bytes(spans_file_max_bytes)
    multiproc = _multiprocess_dir()
    price_book = _load_prices(prices)

    with _lock:
        if _current is not None:
            _state.recorder = None
            _current.shutdown()
            _current = None

        # --- spans ----------------------------------------------------------------------------
        disabled = _env_flag(names.ENV_SDK_DISABLED) is True
        owns = False
        chosen: tuple[str, ...] = ()
        if tracer_provider is None:
            global_provider = trace.get_tracer_provider()
            app_provider = not isinstance(global_provider, (ProxyTracerProvider, _SwitchableTracerProvider))
            if disabled:
                tracer_provider = trace.NoOpTracerProvider()
            elif app_provider and exporters is None:
                logger.debug("agentwatch: the application set a global TracerProvider (%s); using it and "
                             "adding no exporter", type(global_provider).__name__)
                tracer_provider = global_provider
            else:
                chosen = tuple(exporters) if exporters is not None else _default_exporters()
                tracer_provider = _build_tracer_provider(
                    service_name, chosen, spans_file, spans_file_max_bytes)
                owns = True
                if not app_provider:
                    # So the application's own OTel spans join the same traces (and go where ours go).
                    _GLOBAL.install(tracer_provider)
        tracer = tracer_provider.get_tracer("agentwatch", __version__)

        # --- metrics --------------------------------------------------------------------------
        registry = prometheus_registry
        if registry is None:
            registry = CollectorRegistry(auto_describe=True)
        exposition = registry
        if multiproc is not None:
            from prometheus_client import multiprocess

            exposition = CollectorRegistry()
            multiprocess.MultiProcessCollector(exposition, path=multiproc)  # type: ignore[no-untyped-call]
        model_label = getattr(price_book, "model_label", None)
        prom = PrometheusSink(registry, namespace=namespace, max_label_values=max_label_values,
                              exemplars=exemplars, model_label=model_label)
        sinks: list[Sink] = [prom]
        if meter_provider is not None:
            sinks.append(OTelMetricsSink(meter_provider, __version__))
        memory = MemorySink() if keep_records else None
        if memory is not None:
            sinks.append(memory)

        recorder = Recorder(
            tracer, sinks, price_book.price,
            capture_content=capture_content, content_max_chars=content_max_chars, redact=redact,
        )
        tel = Telemetry(recorder=recorder, tracer_provider=tracer_provider, prometheus=prom,
                        registry=registry, memory=memory, price_book=price_book,
                        owns_tracer_provider=owns, exporters=chosen,
                        spans_path=_spans_path(spans_file) if "file" in chosen else None,
                        exposition_registry=exposition, multiprocess_dir=multiproc)
        tel._closers.append(prom.close)
        if prometheus_port is not None:
            try:
                from prometheus_client import start_http_server

                server, thread = start_http_server(prometheus_port, addr=prometheus_host, registry=exposition)
            except OSError as exc:
                if multiproc is not None and exc.errno == errno.EADDRINUSE and prometheus_port:
                    # Another worker of the same server serves every worker's metrics already.
                    logger.debug("agentwatch: %s:%s is served by another worker (multiprocess mode)",
                                 prometheus_host, prometheus_port)
                    tel.metrics_url = f"http://{prometheus_host}:{prometheus_port}/metrics"
                else:
                    prom.close()
                    _GLOBAL.release(tracer_provider)
                    raise ConfigurationError(f"prometheus_port={prometheus_port}: cannot serve /metrics "
                                             f"on {prometheus_host}: {exc}") from exc
            else:
                tel.metrics_server = server
                port = server.server_address[1]
                tel.metrics_url = f"http://{prometheus_host}:{port}/metrics"

                def stop_server() -> None:
                    server.shutdown()
                    server.server_close()
                    thread.join(timeout=2)

                tel._closers.append(stop_server)
        _current = tel
        _state.recorder = recorder
        return tel


def shutdown(timeout_millis: int = 5000) -> None:
    """Flush pending spans and stop what agentwatch started. Safe to call twice, or before configure()."""
    global _current
    with _lock:
        _state.recorder = None
        tel, _current = _current, None
    if tel is not None:
        tel.shutdown(timeout_millis)


def current() -> Telemetry | None:
    """The active configuration, if any."""
    return _current


def configure_for_instrumentor(options: Mapping[str, Any], component: str) -> None:
    """What an auto-instrumentor does first: unless agentwatch is configured already or
    ``options["configure"]`` is false, :func:`configure` with the instrumentor's ``tracer_provider``
    / ``meter_provider``. A failure (a bad environment) is counted, never raised: it must not stop
    the application that is being instrumented."""
    if not options.get("configure", True) or current() is not None:
        return
    try:
        configure(tracer_provider=options.get("tracer_provider"),
                  meter_provider=options.get("meter_provider"))
    except Exception as exc:
        errors.report(component, exc)


def _spans_path(spans_file: str | os.PathLike[str] | None) -> Path:
    from agentwatch.exporters.file import DEFAULT_PATH

    return Path(spans_file or os.environ.get(names.ENV_SPANS_FILE) or DEFAULT_PATH)


def _spans_max_bytes(value: int | None) -> int:
    from agentwatch.exporters.file import DEFAULT_MAX_BYTES

    if value is None:
        raw = os.environ.get(names.ENV_SPANS_FILE_MAX_BYTES, "").strip()
        if not raw:
            return DEFAULT_MAX_BYTES
        try:
            value = int(raw)
        except ValueError:
            raise ConfigurationError(
                f"{names.ENV_SPANS_FILE_MAX_BYTES}={raw!r} is not a number of bytes") from None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1024:
        raise ConfigurationError(f"spans_file_max_bytes must be an integer >= 1024, not {value!r}")
    return value


def _multiprocess_dir() -> str | None:
    """The multiprocess directory when prometheus-client runs in multiprocess mode, else None."""
    from prometheus_client import values

    path = os.environ.get(names.ENV_PROMETHEUS_MULTIPROC_DIR)
    if not path:
        return None
    if values.ValueClass is values.MutexValue:
        # prometheus-client chose its value storage when it was imported, before the variable was set.
        logger.warning("agentwatch: %s is set but prometheus_client was imported before it; metrics "
                       "stay per process", names.ENV_PROMETHEUS_MULTIPROC_DIR)
        return None
    if not os.path.isdir(path):
        raise ConfigurationError(f"{names.ENV_PROMETHEUS_MULTIPROC_DIR}={path!r} is not a directory")
    return path


class _SwitchableTracer(Tracer):
    """A tracer of the global provider agentwatch installed: follows whatever provider is current."""

    def __init__(self, owner: _SwitchableTracerProvider, args: tuple[Any, ...]) -> None:
        self._owner = owner
        self._args = args
        self._generation = -1
        self._tracer: Tracer = trace.NoOpTracer()

    def _current(self) -> Tracer:
        owner = self._owner
        if self._generation != owner.generation:
            self._tracer = owner.target.get_tracer(*self._args)
            self._generation = owner.generation
        return self._tracer

    def start_span(self, *args: Any, **kwargs: Any) -> Span:
        return self._current().start_span(*args, **kwargs)

    @_agnosticcontextmanager
    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Iterator[Span]:
        with self._current().start_as_current_span(*args, **kwargs) as span:
            yield span


class _SwitchableTracerProvider(TracerProvider):
    """What agentwatch sets as the global provider when it builds one.

    OTel lets the global provider be set only once per process, but ``configure()`` may run again
    (tests, reloads) and ``shutdown()`` stops the provider it built. This stand-in forwards to the
    provider of the current configuration (a no-op one after ``shutdown()``), so the application's
    own spans always go where agentwatch's go. Other attributes (``force_flush``, ``resource``,
    ``add_span_processor``) are those of the current provider.
    """

    def __init__(self) -> None:
        self.target: TracerProvider = trace.NoOpTracerProvider()
        self.generation = 0

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Any = None,
    ) -> Tracer:
        return _SwitchableTracer(
            self, (instrumenting_module_name, instrumenting_library_version, schema_url, attributes)
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)


class _GlobalSlot:
    """Installs :class:`_SwitchableTracerProvider` once and points it at agentwatch's provider."""

    def __init__(self) -> None:
        self.switch: _SwitchableTracerProvider | None = None

    def install(self, provider: TracerProvider) -> None:
        if self.switch is None:
            current = trace.get_tracer_provider()
            if isinstance(current, _SwitchableTracerProvider):
                self.switch = current
            else:
                self.switch = _SwitchableTracerProvider()
                trace.set_tracer_provider(self.switch)
        self.switch.target = provider
        self.switch.generation += 1

    def release(self, provider: TracerProvider) -> None:
        switch = self.switch
        if switch is not None and switch.target is provider:
            switch.target = trace.NoOpTracerProvider()
            switch.generation += 1


_GLOBAL = _GlobalSlot()
