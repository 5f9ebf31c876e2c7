"""The Azure OpenAI provider (`azure`): OpenAI Chat Completions on a resource's deployments, `api-key` auth."""

from __future__ import annotations

from typing import cast

from gateway import hookimpl
from gateway.api import Provider, ProviderRegistry

from .provider import AzureProvider


@hookimpl
def gw_register_providers(registry: ProviderRegistry) -> None:
    # The cast: OpenAIProvider declares `dialect`/`options_type` without ClassVar, so mypy sees instance variables
    # where the Provider protocol wants class variables (the same holds for OpenAIProvider itself).
    registry.add(cast("type[Provider]", AzureProvider))
