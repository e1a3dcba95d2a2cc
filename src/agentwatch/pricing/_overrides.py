"""User price overrides: a YAML / JSON file or a mapping, validated with pydantic at load time.

File format (USD per million tokens; every rate but ``input`` optional)::

    name: acme-contract            # optional; costs then say source "override:acme-contract"
    aliases:                       # optional: names to price as another model (Azure deployments)
      my-gpt4o-deployment: gpt-4o
    models:
      - model: gpt-4o              # matched after name normalisation, also as a dated snapshot
        provider: openai           # optional: only for this provider
        input: 2.50
        cache_read: 1.25
        output: 10.00
      - model: my-finetune
        input: 3
        output: 12
        since: 2025-06-01          # optional: price in force from this UTC date (price history)
        tiers:
          - above_input_tokens: 200000
            input: 6
            output: 18

``models`` may also be a mapping from model name to the same fields.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agentwatch.errors import ConfigurationError
from agentwatch.pricing._rates import RateTable, Tier

Rate = Decimal


class _Rates(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: Rate | None = Field(default=None, ge=0)
    output: Rate | None = Field(default=None, ge=0)
    cache_read: Rate | None = Field(default=None, ge=0)
    cache_write: Rate | None = Field(default=None, ge=0)
    cache_write_1h: Rate | None = Field(default=None, ge=0)
    input_audio: Rate | None = Field(default=None, ge=0)
    output_audio: Rate | None = Field(default=None, ge=0)
    input_image: Rate | None = Field(default=None, ge=0)
    reasoning: Rate | None = Field(default=None, ge=0)

    @field_validator("*", mode="before")
    @classmethod
    def _no_floats_surprises(cls, value: Any) -> Any:
        # 0.1 as a YAML float must mean Decimal("0.1"), not 0.1000000000000000055...
        if isinstance(value, float):
            return Decimal(repr(value))
        if isinstance(value, bool):
            raise ValueError("a price must be a number")
        return value


class TierSpec(_Rates):
    above_input_tokens: int = Field(ge=0)


class PriceSpec(_Rates):
    model: str = Field(min_length=1)
    provider: str | None = None
    input: Rate = Field(ge=0)  # type: ignore[assignment]
    per_request: Rate | None = Field(default=None, ge=0)
    since: date | None = None
    tiers: list[TierSpec] = Field(default_factory=list)

    def table(self) -> RateTable:
        rates = self.model_dump(exclude={"model", "provider", "since", "tiers"})
        tiers = tuple(
            Tier(t.above_input_tokens, {k: v for k, v in t.model_dump(exclude={"above_input_tokens"}).items()
                                        if v is not None})
            for t in self.tiers
        )
        return RateTable(**rates, tiers=tiers)


class PriceFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    aliases: dict[str, str] = Field(default_factory=dict)
    models: list[PriceSpec] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _models_mapping(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and isinstance(data.get("models"), Mapping):
            models = []
            for key, spec in data["models"].items():
                if isinstance(spec, Mapping):
                    models.append({"model": key, **spec})
                else:
                    models.append(spec)
            data = {**data, "models": models}
        return data


def _describe_error(data: Any, err: Mapping[str, Any]) -> str:
    loc = list(err.get("loc", ()))
    where = ""
    if len(loc) >= 2 and loc[0] == "models" and isinstance(loc[1], int):
        entry = loc[1]
        model = None
        raw = data.get("models") if isinstance(data, Mapping) else None
        if isinstance(raw, list) and entry < len(raw) and isinstance(raw[entry], Mapping):
            model = raw[entry].get("model")
        elif isinstance(raw, Mapping) and entry < len(raw):
            model = list(raw)[entry]
        where = f"entry models[{entry}]" + (f" (model {model!r})" if model else "")
        rest = loc[2:]
    else:
        rest = loc
    field = ".".join(str(p) for p in rest) if rest else None
    parts = [p for p in (where, f"field {field!r}" if field else "") if p]
    return f"{', '.join(parts) or 'top level'}: {err.get('msg', 'invalid')}"


def parse(data: Any, origin: str) -> PriceFile:
    """Validate a loaded price document; errors name ``origin``, the entry and the field."""
    if not isinstance(data, Mapping):
        raise ConfigurationError(
            f"prices {origin}: expected a mapping with 'models', got {type(data).__name__}"
        )
    try:
        return PriceFile.model_validate(data)
    except ValidationError as exc:
        details = "; ".join(_describe_error(data, e) for e in exc.errors())
        raise ConfigurationError(f"prices {origin}: {details}") from None


def load_file(path: str | os.PathLike[str]) -> tuple[PriceFile, str]:
    """Read and validate a YAML or JSON price file; returns it and its default name (file stem)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"prices file {p}: cannot read it ({exc.strerror or exc})") from None
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:
        raise ConfigurationError(f"prices file {p}: not valid {'JSON' if p.suffix == '.json' else 'YAML'}: "
                                 f"{exc}") from None
    return parse(data, f"file {p}"), p.stem
