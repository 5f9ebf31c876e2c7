"""Provider kinds registered by plugins, and the provider instances built from config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..config import ConfigError, Settings, convert_config
from .base import Provider, ProviderSetup

if TYPE_CHECKING:
    from .upstream import UpstreamClient


class ProviderRegistry:
    """Where plugins add provider classes (gw_register_providers)."""

    def __init__(self) -> None:
        self.kinds: dict[str, type[Provider]] = {}

    def add(self, provider_class: type[Provider]) -> None:
        self.kinds[provider_class.kind] = provider_class

    def check(self, settings: Settings) -> list[str]:
        """Config errors about providers: unknown kinds and invalid options, with their paths."""
        errors: list[str] = []
        for name, entry in settings.providers.items():
            kind = settings.provider_kind(name)
            cls = self.kinds.get(kind)
            if cls is None:
                errors.append(
                    f"$.providers.{name}: unknown provider kind {kind!r} (known: {', '.join(sorted(self.kinds))};"
                    " for another name set custom_provider_config.base_provider_type)"
                )
                continue
            try:
                convert_config(entry.options, cls.options_type, f"$.providers.{name}.options")
            except ConfigError as exc:
                errors.extend(exc.errors)
            if cls.requires_keys and not entry.keys:
                errors.append(f"$.providers.{name}.keys: provider {kind!r} needs at least one key")
            check = getattr(cls, "check_config", None)  # see base.ChecksConfig
            if check is not None:
                errors.extend(check(name, entry))
        return errors

    def build(self, settings: Settings, http: UpstreamClient | Mapping[str, UpstreamClient]) -> dict[str, Provider]:
        """The providers, each with its own client (`http` by provider name) or all with one."""
        built: dict[str, Provider] = {}
        for name, entry in settings.providers.items():
            cls = self.kinds[settings.provider_kind(name)]
            options = convert_config(entry.options, cls.options_type, f"$.providers.{name}.options")
            client = http[name] if isinstance(http, Mapping) else http
            built[name] = cls(ProviderSetup(name=name, config=entry, options=options, http=client))
        return built
