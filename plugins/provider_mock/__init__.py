"""The mock provider: no network, deterministic answers, for demos and tests. Addressed as `mock/<any model>`."""

from __future__ import annotations

from gateway import hookimpl
from gateway.api import ProviderRegistry

from .provider import MockProvider


@hookimpl
def gw_register_providers(registry: ProviderRegistry) -> None:
    registry.add(MockProvider)
