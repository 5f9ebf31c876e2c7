"""What a provider plugin implements. Providers never see the client's dialect, only canonical calls."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from msgspec import Struct

from ..tokens import DEFAULT as DEFAULT_MEDIA_RULES
from ..tokens import MediaRules, estimate_input_tokens

if TYPE_CHECKING:
    from ..call import ChatCall, ChatResult, Chunk, Dialect
    from ..config import ProviderConfig, ProviderKey
    from ..context import CallContext
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


class UpstreamModel(Struct, kw_only=True, frozen=True):
    """One model of an upstream's own list, as calls name it (`id`), with what the upstream says about it; the
    model catalog's entry, when there is one, wins over `name` and `created`."""

    id: str
    name: str | None = None  # display name
    created: int | None = None  # release or creation time, Unix seconds


class ListsModels(Protocol):
    """Optional, on a provider: its upstream's own model list, read with `key` (one that allows "*"). The
    models routes list it (cached, see gateway.providers.listing) for providers whose keys allow "*". Return
    None when this upstream has no list to give (the listing then shows the models the keys name); raise
    UpstreamError when it fails (the last good list is served meanwhile)."""

    async def list_models(self, key: ProviderKey) -> list[UpstreamModel] | None: ...


class CountsMedia(Protocol):
    """Optional, on a provider: how its upstream counts images and PDF pages of `model`'s prompts
    (`gateway.tokens.MediaRules`); budgets reserve by it. Without it the gateway's default rules apply."""

    def media_rules(self, model: str) -> MediaRules: ...


class BaseProvider:
    """What most providers share: subclass it, set `kind` (and `dialect`, `options_type`, `media` as they
    apply), implement `complete` and `stream`. Implementing `Provider` from scratch works as well."""

    kind: ClassVar[str]
    dialect: ClassVar[Dialect | None] = None  # the client dialect whose bodies this provider's wire takes as they are
    options_type: ClassVar[type[Struct]] = NoOptions
    requires_keys: ClassVar[bool] = True
    media: ClassVar[MediaRules] = DEFAULT_MEDIA_RULES  # how the upstream counts images and PDF pages

    def __init__(self, setup: ProviderSetup) -> None:
        self.setup = setup
        self.http = setup.http
        self.network = setup.config.network_config

    async def complete(self, call: ChatCall, key: ProviderKey, ctx: CallContext) -> ChatResult:
        raise NotImplementedError

    def stream(self, call: ChatCall, key: ProviderKey, ctx: CallContext) -> AsyncIterator[Chunk]:
        raise NotImplementedError

    async def count_tokens(self, call: ChatCall, key: ProviderKey, ctx: CallContext) -> int:
        """A local estimate (o200k, with the provider's media rules); override where the upstream can count."""
        assert call.target is not None
        return estimate_input_tokens(call.request, self.media_rules(call.target.model))

    def known_models(self) -> list[str]:
        """The models the provider's keys name (a key allowing "*" names none)."""
        return models_named_by_keys(self.setup.config)

    def media_rules(self, model: str) -> MediaRules:
        return self.media

    async def list_models(self, key: ProviderKey) -> list[UpstreamModel] | None:
        """No upstream list (see ListsModels): override where the upstream has a models endpoint."""
        return None


class ChecksConfig(Protocol):
    """Optional, on a provider class: config errors (with JSON paths) found before anything is built, e.g. in
    provider-specific key settings (`azure_key_config`, `bedrock_key_config`)."""

    @classmethod
    def check_config(cls, name: str, config: ProviderConfig) -> list[str]: ...


def models_named_by_keys(config: ProviderConfig) -> list[str]:
    """The models a provider's keys name explicitly ("*" names none)."""
    names = (model for key in config.keys for model in key.models if model != "*")
    return list(dict.fromkeys(names))
