"""The AWS Bedrock provider (Converse / ConverseStream, SigV4 by botocore). Addressed as `bedrock/<model id>`."""

from __future__ import annotations

from gateway import hookimpl
from gateway.api import ProviderRegistry

from .provider import BedrockProvider


@hookimpl
def gw_register_providers(registry: ProviderRegistry) -> None:
    registry.add(BedrockProvider)
