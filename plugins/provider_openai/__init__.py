"""The OpenAI Chat Completions provider, for OpenAI itself and any compatible server (vLLM, Ollama, Groq, ...)."""

from __future__ import annotations

from gateway import hookimpl
from gateway.api import ProviderRegistry

from .provider import OpenAIProvider


@hookimpl
def gw_register_providers(registry: ProviderRegistry) -> None:
    registry.add(OpenAIProvider)
