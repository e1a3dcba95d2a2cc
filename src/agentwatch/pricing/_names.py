"""Provider and model name normalisation before a price lookup.

Providers arrive as OpenTelemetry ``gen_ai.provider.name`` values (``aws.bedrock``,
``gcp.vertex_ai``), LangChain ``ls_provider`` names (``google_genai``, ``bedrock_converse``) or the
price source's own ids; models as gateway-prefixed names (``openai/gpt-4o``), Gemini resource names
(``models/gemini-2.5-flash``), Bedrock ids (``us.anthropic.claude-...-v1:0``), Vertex ids
(``claude-...@20250514``), ``-latest`` aliases or dated snapshots.
"""

from __future__ import annotations

import re

#: provider names seen in the wild -> genai-prices provider id
PROVIDER_ALIASES: dict[str, str] = {
    "openai": "openai",
    "azure.ai.openai": "azure",
    "azure_openai": "azure",
    "azure-openai": "azure",
    "azure.ai.inference": "azure",
    "azure": "azure",
    "anthropic": "anthropic",
    "aws.bedrock": "aws",
    "aws_bedrock": "aws",
    "bedrock": "aws",
    "bedrock_converse": "aws",
    "amazon_bedrock": "aws",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "google": "google",
    "google_genai": "google",
    "google_vertexai": "google",
    "google_anthropic_vertex": "google",
    "vertex_ai": "google",
    "vertexai": "google",
    "gemini": "google",
    "mistral_ai": "mistral",
    "mistralai": "mistral",
    "mistral": "mistral",
    "x_ai": "x-ai",
    "xai": "x-ai",
    "x-ai": "x-ai",
    "deepseek": "deepseek",
    "groq": "groq",
    "cohere": "cohere",
    "perplexity": "perplexity",
    "fireworks": "fireworks",
    "together": "together",
    "togetherai": "together",
    "openrouter": "openrouter",
}

#: vendor segment of a Bedrock model id -> the provider that publishes the model
_BEDROCK = re.compile(
    r"^(?:(?:us|eu|apac|ap|au|ca|jp|us-gov|global)\.)?"
    r"(anthropic|meta|amazon|mistral|cohere|ai21|deepseek|openai|qwen|writer|twelvelabs)\."
    r"(?P<name>.+?)(?:-v\d+)?(?::\d+)?$"
)
_DATE_SUFFIX = re.compile(r"-(?:20\d{2}-\d{2}-\d{2}|20\d{6})$")
_VERTEX_DATE = re.compile(r"@(?:20\d{6}|20\d{2}-\d{2}-\d{2}|\d{3}|latest|default)$")


def provider_key(provider: str | None) -> str | None:
    """Lower-cased, trimmed provider name (None or empty -> None)."""
    if provider is None:
        return None
    p = provider.strip().lower()
    return p or None


def bedrock_vendor(model: str) -> str | None:
    m = _BEDROCK.match(model)
    return m.group(1) if m else None


def strip_date(model: str) -> str:
    """``gpt-4o-2024-08-06`` -> ``gpt-4o``; ``claude-haiku-4-5-20251001`` -> ``claude-haiku-4-5``."""
    return _DATE_SUFFIX.sub("", model)


def candidates(model: str) -> list[str]:
    """Names to try, most specific first (the name as given always comes first)."""
    m = model.strip().lower()
    out: list[str] = [m]

    def add(name: str) -> None:
        if name and name not in out:
            out.append(name)

    base = m
    if "/" in base:  # openai/gpt-4o, models/gemini-2.5-flash, publishers/google/models/x
        base = base.rsplit("/", 1)[1]
        add(base)
    if "@" in base:  # Vertex: claude-sonnet-4@20250514
        base = _VERTEX_DATE.sub("", base)
        base = base.split("@", 1)[0]
        add(base)
    bm = _BEDROCK.match(base)
    if bm:
        base = bm.group("name")
        add(base)
    if base.endswith("-latest"):
        base = base[: -len("-latest")]
        add(base)
    add(strip_date(base))
    return out
