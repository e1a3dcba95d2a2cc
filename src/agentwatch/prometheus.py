"""Serve the metrics from inside an existing web app (FastAPI / Starlette, Flask / any WSGI).

Under a multi-process server (gunicorn, ``uvicorn --workers``) with ``PROMETHEUS_MULTIPROC_DIR``
set, the app serves the sum over every worker process, whichever worker answers the scrape.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import make_asgi_app, make_wsgi_app

from agentwatch import config
from agentwatch.errors import ConfigurationError


def _registry() -> Any:
    tel = config.current()
    if tel is None:
        raise ConfigurationError("call agentwatch.configure() before mounting the metrics app")
    return tel.exposition_registry or tel.registry


def prometheus_asgi_app() -> Any:
    """An ASGI app serving agentwatch's metrics (``app.mount("/metrics", prometheus_asgi_app())``)."""
    return make_asgi_app(registry=_registry())


def prometheus_wsgi_app() -> Any:
    """A WSGI app serving agentwatch's metrics (mount it with a dispatcher middleware)."""
    return make_wsgi_app(registry=_registry())
