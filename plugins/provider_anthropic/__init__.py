"""The Anthropic Messages API provider: a lossless relay for Anthropic clients, canonical for the others."""

from __future__ import annotations

from gateway import hookimpl
from gateway.api import ProviderRegistry

from .provider import AnthropicProvider


@hookimpl
def gw_register_providers(registry: ProviderRegistry) -> None:
    registry.add(AnthropicProvider)
