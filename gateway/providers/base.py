"""What a provider plugin implements. Providers never see the client's dialect, only canonical calls."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from msgspec import Struct

if TYPE_CHECKING:
    from ..call import ChatCall, ChatResult, Chunk, Dialect
    from ..config import ProviderConfig, ProviderKey
    from ..context import CallContext
    from ..tokens import MediaRules
    from .upstream import UpstreamClient


class NoOptions(Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """The options type of a provider that takes none."""


class ProviderSetup(Struct, kw_only=True, frozen=True):
    """Everything a provider instance is built from: its config entry, typed options and the app's HTTP client."""

    name: str
    config: ProviderConfig
    options: Any
    http: UpstreamClient


class Provider(Protocol):
    kind: ClassVar[str]  # the provider type named in config ("anthropic", "openai", "mock", ...)
    dialect: ClassVar[Dialect | None]  # the wire dialect it speaks; a client of that dialect gets relayed bytes
    options_type: ClassVar[type[Struct]]
    requires_keys: ClassVar[bool]
    setup: ProviderSetup

    def __init__(self, setup: ProviderSetup) -> None: ...

    async def complete(self, call: ChatCall, key: ProviderKey, ctx: CallContext) -> ChatResult:
        """Run a non-streaming call; raise UpstreamError (retryable or not) on failure."""
        ...

    def stream(self, call: ChatCall, key: ProviderKey, ctx: CallContext) -> AsyncIterator[Chunk]:
        """Run a streaming call; raise before the first chunk for errors that have a status."""
        ...

    async def count_tokens(self, call: ChatCall, key: ProviderKey, ctx: CallContext) -> int:
        """Count the input tokens of a call (upstream where it can, else a local estimate)."""
        ...

    def known_models(self) -> list[str]:
        """Model names to list on the models routes."""
        ...


class CountsMedia(Protocol):
    """Optional, on a provider: how its upstream counts images and PDF pages of `model`'s prompts
    (`gateway.tokens.MediaRules`); budgets reserve by it. Without it the gateway's default rules apply."""

    def media_rules(self, model: str) -> MediaRules: ...


class ChecksConfig(Protocol):
    """Optional, on a provider class: config errors (with JSON paths) found before anything is built, e.g. in
    provider-specific key settings (`azure_key_config`, `bedrock_key_config`)."""

    @classmethod
    def check_config(cls, name: str, config: ProviderConfig) -> list[str]: ...


def models_named_by_keys(config: ProviderConfig) -> list[str]:
    """The models a provider's keys name explicitly ("*" names none)."""
    names = (model for key in config.keys for model in key.models if model != "*")
    return list(dict.fromkeys(names))
