"""Pure readings of LangChain objects: which database a vector store is, which provider and model an
embeddings object calls, where its server is. No I/O, no telemetry: tested on plain objects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from agentwatch import names

#: integration package -> ``gen_ai.provider.name``
_PROVIDER_BY_PACKAGE: Mapping[str, str] = {
    "langchain_openai": "openai",
    "langchain_anthropic": "anthropic",
    "langchain_aws": "aws.bedrock",
    "langchain_cohere": "cohere",
    "langchain_google_genai": "gcp.gemini",
    "langchain_google_vertexai": "gcp.vertex_ai",
    "langchain_mistralai": "mistral_ai",
    "langchain_groq": "groq",
    "langchain_deepseek": "deepseek",
    "langchain_xai": "x_ai",
    "langchain_ibm": "ibm.watsonx.ai",
    "langchain_ollama": "ollama",
    "langchain_huggingface": "huggingface",
    "langchain_voyageai": "voyageai",
    "langchain_nomic": "nomic",
    "langchain_fireworks": "fireworks",
    "langchain_together": "together_ai",
    "langchain_nvidia_ai_endpoints": "nvidia",
}
#: class names that say more than their package (community classes, Azure inside langchain_openai)
_PROVIDER_BY_CLASS: Mapping[str, str] = {
    "AzureOpenAIEmbeddings": "azure.ai.openai",
    "OpenAIEmbeddings": "openai",
    "BedrockEmbeddings": "aws.bedrock",
    "CohereEmbeddings": "cohere",
    "VertexAIEmbeddings": "gcp.vertex_ai",
    "GoogleGenerativeAIEmbeddings": "gcp.gemini",
    "MistralAIEmbeddings": "mistral_ai",
    "OllamaEmbeddings": "ollama",
    "HuggingFaceEmbeddings": "huggingface",
    "VoyageEmbeddings": "voyageai",
    "VoyageAIEmbeddings": "voyageai",
}
_MODEL_ATTRS = ("model", "model_name", "model_id", "deployment_name", "deployment", "repo_id")
_BASE_URL_ATTRS = ("openai_api_base", "base_url", "azure_endpoint", "endpoint_url", "api_base", "endpoint")
_DEFAULT_SERVERS: Mapping[str, tuple[str, int]] = {
    "openai": ("api.openai.com", 443),
    "cohere": ("api.cohere.com", 443),
    "mistral_ai": ("api.mistral.ai", 443),
    "voyageai": ("api.voyageai.com", 443),
}
_SCHEME_PORTS: Mapping[str, int] = {"https": 443, "http": 80}
_COLLECTION_ATTRS = ("collection_name", "_collection_name", "index_name", "_index_name", "table_name",
                     "_table_name", "namespace", "_namespace")
_STORE_SUFFIXES = ("vectorstore", "vectorsearch", "_vector_store")


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def embeddings_provider(embeddings: Any) -> str:
    """``gen_ai.provider.name`` of an embeddings object, from its class and package."""
    cls = type(embeddings)
    by_class = _PROVIDER_BY_CLASS.get(cls.__name__)
    package = cls.__module__.split(".", 1)[0]
    if package in _PROVIDER_BY_PACKAGE and (by_class is None or by_class == "openai"):
        return _PROVIDER_BY_PACKAGE[package]
    if by_class is not None:
        return by_class
    if package.startswith("langchain_") and package not in ("langchain_core", "langchain_community"):
        return package[len("langchain_"):]
    name = cls.__name__.lower().replace("embeddings", "").replace("embedding", "").strip("_")
    return name or names.UNKNOWN_LABEL_VALUE


def embeddings_model(embeddings: Any) -> str:
    """The model an embeddings object asks for (``model``, ``model_name``, ``model_id`` ...)."""
    for attr in _MODEL_ATTRS:
        value = _text(getattr(embeddings, attr, None))
        if value is not None:
            return value
    return type(embeddings).__name__


def server_of(obj: Any, provider: str | None = None) -> tuple[str | None, int | None]:
    """``server.address`` / ``server.port`` from a base URL attribute, else the provider's public API."""
    client = getattr(obj, "client", None)  # an SDK resource (OpenAI's knows the URL it really uses)
    sdk_url = getattr(getattr(client, "_client", client), "base_url", None)
    candidates = [getattr(obj, attr, None) for attr in _BASE_URL_ATTRS]
    candidates.append(None if sdk_url is None else str(sdk_url))
    for value in candidates:
        if isinstance(value, str) and "://" in value:
            try:
                parts = urlsplit(value)
                port = parts.port or _SCHEME_PORTS.get(parts.scheme)
            except ValueError:
                continue
            if parts.hostname:
                return parts.hostname, port
    if provider is not None and provider in _DEFAULT_SERVERS:
        return _DEFAULT_SERVERS[provider]
    return None, None


def store_db(store: Any) -> str:
    """``db.system.name`` of a vector store: its class name, lower-cased, without "VectorStore"."""
    db = type(store).__name__.lower()
    for suffix in _STORE_SUFFIXES:
        if db.endswith(suffix) and len(db) > len(suffix):
            return db[: -len(suffix)]
    return db


def store_collection(store: Any) -> str:
    """The collection / index / table a store searches, else its class name."""
    for attr in _COLLECTION_ATTRS:
        value = _text(getattr(store, attr, None))
        if value is not None:
            return value
    inner = getattr(store, "_collection", None)  # Chroma
    value = _text(getattr(inner, "name", None))
    if value is not None:
        return value
    return type(store).__name__
