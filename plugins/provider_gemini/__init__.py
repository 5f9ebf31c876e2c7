"""The Gemini provider: Google's Gemini API, translated to and from the canonical (Anthropic) call."""

from __future__ import annotations

from gateway import hookimpl
from gateway.api import ProviderRegistry

from .provider import GeminiProvider


@hookimpl
def gw_register_providers(registry: ProviderRegistry) -> None:
    registry.add(GeminiProvider)
