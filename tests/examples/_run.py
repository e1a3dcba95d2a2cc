"""Run an example as a user would: a fresh interpreter, a scratch directory, no API keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import genai_prices

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
_UNSET = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL",
          "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER",
          "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_RESOURCE_ATTRIBUTES", "AGENTWATCH_SPANS_FILE",
          "PROMETHEUS_MULTIPROC_DIR")


def example_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _UNSET}
    env.update(extra)
    return env


def run_example(script: str, cwd: Path, timeout: float = 60, **env: str) -> str:
    """Run ``examples/<script>`` offline in ``cwd``; returns its stdout (fails on a non-zero exit)."""
    done = subprocess.run([sys.executable, str(EXAMPLES / script)], cwd=cwd, env=example_env(**env),
                          capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{script} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def spans(path: Path) -> Iterator[dict[str, Any]]:
    """The spans of an OTLP/JSON lines file, each with its attributes as a plain dict."""
    for line in path.read_text().splitlines():
        for rs in json.loads(line)["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                for span in ss["spans"]:
                    attrs = {}
                    for kv in span.get("attributes", []):
                        ((_kind, value),) = kv["value"].items()
                        attrs[kv["key"]] = value
                    yield {**span, "attributes": attrs}


def list_price(provider: str, model: str, usage: Mapping[str, int]) -> float:
    """The list price of one call straight from genai-prices (not through agentwatch's price book).

    ``usage`` uses genai-prices' names: input_tokens (cache included), cache_read_tokens,
    cache_write_tokens, output_tokens.
    """
    result = genai_prices.calc_price(genai_prices.Usage(**usage), model_ref=model, provider_id=provider)
    return float(result.total_price)
