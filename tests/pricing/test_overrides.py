"""Price overrides: files, mappings, env var, validation errors that name the file, entry and field."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

import agentwatch
from agentwatch import ConfigurationError, Usage
from agentwatch.pricing import PriceBook
from agentwatch.testing import capture

M = Decimal(1_000_000)
U = Usage(input_tokens=10_000, output_tokens=1_000, cache_read_tokens=4_000)

CONTRACT_YAML = """\
name: acme-contract
aliases:
  prod-gpt4o-eastus: gpt-4o
  my-claude: anthropic/claude-haiku-4-5
models:
  - model: gpt-4o
    provider: openai
    input: 2.00
    cache_read: 0.50
    output: 8.00
  - model: in-house-llm
    input: 0.1
    output: 0.2
    since: 2025-01-01
  - model: in-house-llm
    input: 0.05
    output: 0.1
    since: 2025-07-01
    tiers:
      - above_input_tokens: 100000
        input: 0.08
        output: 0.16
"""


@pytest.fixture
def contract(tmp_path: Path) -> Path:
    path = tmp_path / "contract.yaml"
    path.write_text(CONTRACT_YAML)
    return path


def test_yaml_override_wins_and_names_its_source(contract: Path) -> None:
    book = PriceBook.from_source(contract)
    cost = book.price("openai", "gpt-4o-2024-08-06", U)  # a dated snapshot of an overridden name
    assert cost is not None
    assert cost.source == "override:acme-contract"
    assert cost.input_usd == (6_000 * Decimal("2.00") + 4_000 * Decimal("0.50")) / M
    assert cost.output_usd == 1_000 * Decimal("8.00") / M
    # other models still come from the default source
    assert book.price("openai", "gpt-4o-mini", U).source.startswith("genai-prices")  # type: ignore[union-attr]


def test_override_scoped_to_a_provider(contract: Path) -> None:
    book = PriceBook.from_source(contract)
    assert book.price("azure.ai.openai", "gpt-4o", U).source.startswith("genai-prices")  # type: ignore[union-attr]


def test_aliases_map_deployments_to_priced_models(contract: Path) -> None:
    book = PriceBook.from_source(contract)
    azure = book.price("openai", "prod-gpt4o-eastus", U)
    assert azure is not None and azure.source == "override:acme-contract"
    claude = book.price("azure.ai.inference", "my-claude", Usage(input_tokens=1000, output_tokens=10))
    assert claude is not None and claude.total_usd == (1000 * 1 + 10 * 5) / M
    assert book.model_label("anthropic", "my-claude") == "claude-haiku-4-5"


def test_dated_override_entries_and_tiers(contract: Path) -> None:
    book = PriceBook.from_source(contract)
    u = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    at = datetime(2025, 3, 1, tzinfo=timezone.utc)
    assert book.price(None, "in-house-llm", u, at).total_usd == Decimal("0.3")  # type: ignore[union-attr]
    later = book.price(None, "in-house-llm", Usage(input_tokens=50_000, output_tokens=0),
                       datetime(2025, 8, 1, tzinfo=timezone.utc))
    assert later is not None and later.total_usd == 50_000 * Decimal("0.05") / M and later.tier is None
    big = book.price(None, "in-house-llm", u, datetime(2025, 8, 1, tzinfo=timezone.utc))
    assert big is not None and big.total_usd == Decimal("0.24") and big.tier == "input_tokens>100000"
    # before the first dated entry there is no price for it (and no default-source price either)
    assert book.price(None, "in-house-llm", u, datetime(2024, 6, 1, tzinfo=timezone.utc)) is None


def test_json_file_and_mapping_and_models_as_mapping(tmp_path: Path) -> None:
    spec = {"models": {"gpt-4o": {"input": "1.5", "output": "6"}}}
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(spec))
    for source in (path, str(path), spec):
        cost = PriceBook.from_source(source).price("openai", "gpt-4o", U)
        assert cost is not None and cost.total_usd == (10_000 * Decimal("1.5") + 1_000 * 6) / M
    assert PriceBook.from_source(path).price("openai", "gpt-4o", U).source == "override:prices"  # type: ignore[union-attr]


def test_float_rates_mean_their_decimal_text() -> None:
    cost = PriceBook.from_source({"models": [{"model": "m", "input": 0.1, "output": 0.3}]}).price(
        None, "m", Usage(input_tokens=3, output_tokens=1))
    assert cost is not None and cost.total_usd == Decimal("0.0000006")


@pytest.mark.parametrize(("text", "expected"), [
    ("models:\n  - model: gpt-4o\n    input: -1\n", r"entry models\[0\] \(model 'gpt-4o'\), field 'input'"),
    ("models:\n  - model: a\n    input: 1\n  - model: b\n    input: cheap\n",
     r"entry models\[1\] \(model 'b'\), field 'input'"),
    ("models:\n  - model: a\n    input: 1\n    outptu: 2\n", r"field 'outptu': Extra inputs"),
    ("models:\n  - input: 1\n", r"entry models\[0\], field 'model'"),
    ("models:\n  - model: a\n    input: 1\n    tiers:\n      - input: 2\n",
     r"field 'tiers\.0\.above_input_tokens'"),
    ("models:\n  - model: a\n    input: 1\n    since: someday\n", r"field 'since'"),
    ("models: [unclosed\n", r"not valid YAML"),
    ("- just a list\n", r"expected a mapping"),
])
def test_bad_files_fail_at_configure_time_naming_file_entry_and_field(tmp_path: Path, text: str,
                                                                      expected: str) -> None:
    path = tmp_path / "bad-prices.yaml"
    path.write_text(text)
    with pytest.raises(ConfigurationError, match=expected) as info:
        agentwatch.configure(prices=path, prometheus_registry=None, exporters=[])
    assert str(path) in str(info.value)
    assert agentwatch.current() is None or agentwatch.current().price_book is not None  # type: ignore[union-attr]


def test_missing_file_and_wrong_type() -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        PriceBook.from_source("no/such/prices.yaml")
    with pytest.raises(ConfigurationError, match="a mapping or a PriceBook"):
        PriceBook.from_source(42)  # type: ignore[arg-type]


def test_configure_accepts_path_mapping_book_and_env(contract: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    book = PriceBook.from_source({"name": "given", "models": [{"model": "gpt-4o", "input": 1}]})
    for prices, source in ((contract, "override:acme-contract"), (book, "override:given")):
        with capture(prices=prices) as tel:
            assert tel.telemetry.price_book.price("openai", "gpt-4o", U).source == source  # type: ignore[union-attr]
    monkeypatch.setenv("AGENTWATCH_PRICES_FILE", str(contract))
    with capture() as tel:
        @agentwatch.track_inference(provider="openai", model="prod-gpt4o-eastus")
        def ask() -> dict[str, object]:
            return {"usage": {"prompt_tokens": 10_000, "completion_tokens": 1_000,
                              "prompt_tokens_details": {"cached_tokens": 4_000}}}

        ask()
        a = tel.span("chat prod-gpt4o-eastus").attributes or {}
        assert a["agentwatch.cost.source"] == "override:acme-contract"
        assert a["agentwatch.cost.usd"] == pytest.approx((6_000 * 2.0 + 4_000 * 0.5 + 1_000 * 8.0) / 1e6)
