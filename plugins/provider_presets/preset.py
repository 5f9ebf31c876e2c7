"""OpenAI-compatible services as provider kinds of their own: the openai provider with a default base URL.

A preset's `base_url` follows the openai provider's rule (everything before `/v1/chat/completions`), so a
service whose OpenAI API is not at the root carries its prefix there (Groq: `https://api.groq.com/openai`),
exactly as a user would write it in `network_config.base_url`, which still wins when set.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import msgspec
from msgspec import Struct

from gateway import ProviderKey
from gateway.api import ProviderSetup

from ..provider_openai.provider import OpenAIOptions, OpenAIProvider

MaxTokensField = Literal["max_completion_tokens", "max_tokens"]


class CompatOptions(OpenAIOptions, frozen=True):
    # Most compatible servers know only max_tokens (and some reject max_completion_tokens).
    max_tokens_field: MaxTokensField = "max_tokens"


class Preset(Struct, frozen=True):
    """One line of the preset table."""

    kind: str
    base_url: str  # the default network_config.base_url
    max_tokens_field: MaxTokensField
    requires_keys: bool = True  # local servers (ollama, vllm) run without one
    cache_markers: bool = False  # the service honours `cache_control` markers in relayed bodies


class PresetProvider(OpenAIProvider):
    """The openai provider, defaulted by `preset`; subclasses come from `preset_provider`."""

    preset: ClassVar[Preset]

    def __init__(self, setup: ProviderSetup) -> None:
        super().__init__(with_default_base_url(setup, self.preset.base_url))

    def _headers(self, key: ProviderKey) -> dict[str, str]:
        headers = super()._headers(key)
        if not key.value:
            # A keyless local server gets no `Authorization: Bearer ` (some reject the empty token).
            headers.pop("authorization", None)
        return headers


def with_default_base_url(setup: ProviderSetup, base_url: str) -> ProviderSetup:
    """`setup` with `base_url` filled in when the config names none (so setup.config shows what is used)."""
    network = setup.config.network_config
    if network.base_url:
        return setup
    config = msgspec.structs.replace(setup.config, network_config=msgspec.structs.replace(network, base_url=base_url))
    return msgspec.structs.replace(setup, config=config)


def preset_provider(preset: Preset) -> type[PresetProvider]:
    """The provider class of one preset."""
    options = OpenAIOptions if preset.max_tokens_field == "max_completion_tokens" else CompatOptions

    class Provider(PresetProvider):
        kind: ClassVar[str] = preset.kind
        options_type = options
        requires_keys: ClassVar[bool] = preset.requires_keys
        cache_markers: ClassVar[bool] = preset.cache_markers

    Provider.preset = preset
    Provider.__name__ = Provider.__qualname__ = f"{preset.kind.capitalize()}Provider"
    return Provider
