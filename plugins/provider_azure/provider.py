"""Azure OpenAI: the OpenAI Chat wire at `{endpoint}/openai/deployments/{deployment}/chat/completions`.

Bodies, answers, streams and errors are OpenAI's, so everything but the URL (per key: its endpoint and
deployments) and the auth header is the openai provider's, and OpenAI clients still get a byte relay.
"""

from __future__ import annotations

from typing import ClassVar

from gateway import (
    ChatCall,
    GatewayError,
    ProviderConfig,
    ProviderKey,
)
from gateway.api import ProviderSetup, UpstreamModel, models_named_by_keys

from ..provider_openai.provider import OpenAIProvider
from .config import AzureTarget, check_keys, resolve_targets


class AzureProvider(OpenAIProvider):
    kind: ClassVar[str] = "azure"
    # Azure names its request id apim-request-id; x-request-id is there too on most answers.
    request_id_headers: ClassVar[tuple[str, ...]] = ("x-request-id", "apim-request-id")

    def __init__(self, setup: ProviderSetup) -> None:
        super().__init__(setup)
        # Raises ConfigError (with paths) for an invalid azure_key_config: the core has no key-level check hook.
        targets = resolve_targets(setup.name, setup.config)
        self._targets = list(zip(setup.config.keys, targets, strict=True))

    @classmethod
    def check_config(cls, name: str, config: ProviderConfig) -> list[str]:
        """Key-level config errors, for a registry that asks providers before building them (see __init__)."""
        return check_keys(name, config)

    def target(self, key: ProviderKey) -> AzureTarget:
        """The Azure settings of one of this provider's keys."""
        for known, target in self._targets:
            if known is key or known == key:
                return target
        raise GatewayError(f"provider {self.setup.name!r} was handed a key it does not own ({key.name!r})")

    def _chat_url(self, call: ChatCall, key: ProviderKey) -> str:
        assert call.target is not None
        return self.target(key).chat_url(call.target.model)

    def known_models(self) -> list[str]:
        """The keys' models and every model a deployment map names."""
        mapped = (model for _, target in self._targets for model in target.deployments)
        return list(dict.fromkeys([*models_named_by_keys(self.setup.config), *mapped]))

    async def list_models(self, key: ProviderKey) -> list[UpstreamModel] | None:
        """None: what a resource serves is its deployments, which only Azure's management API (other credentials)
        lists; `{endpoint}/openai/models` lists base models that may have no deployment. known_models has the
        keys' models and their deployment maps."""
        return None

    def _headers(self, key: ProviderKey) -> dict[str, str]:
        # Azure authenticates with `api-key`; an Authorization header would be read as an Entra ID token.
        headers = {"content-type": "application/json", **self.network.extra_headers}
        headers["api-key"] = key.value
        return headers
