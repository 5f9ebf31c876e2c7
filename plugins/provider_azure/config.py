"""Azure OpenAI credentials: each key's `azure_key_config`, validated with JSON paths, and the URLs built from it.

The core keeps `azure_key_config` as a raw dict (only the provider knows its shape), so this module turns it into
a typed `AzureKeyConfig` and reports every problem as `$.providers.<name>.keys[<i>].azure_key_config...: ...`.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from msgspec import Meta, Struct, field

from gateway import ConfigStruct, ProviderConfig, ProviderKey
from gateway.api import ConfigError, convert_config

# The latest GA data-plane version at the time of writing; it accepts max_completion_tokens and stream_options.
DEFAULT_API_VERSION = "2024-10-21"

NonEmpty = Annotated[str, Meta(min_length=1)]


class AzureKeyConfig(ConfigStruct, frozen=True):
    """`keys[].azure_key_config`, with Bifrost's names."""

    # https://<resource>.openai.azure.com; may be left out when network_config.base_url names it for every key.
    endpoint: NonEmpty | None = None
    deployments: dict[str, NonEmpty] = field(default_factory=dict)  # model name -> deployment name
    api_version: NonEmpty = DEFAULT_API_VERSION


class AzureTarget(Struct, frozen=True):
    """One key's resolved Azure settings: where its deployments live and which API version they speak."""

    endpoint: str  # without a trailing slash
    deployments: dict[str, str]
    api_version: str

    def deployment(self, model: str) -> str:
        """The deployment serving `model`; a model with no entry is deployed under its own name."""
        return self.deployments.get(model, model)

    def chat_url(self, model: str) -> str:
        deployment = quote(self.deployment(model), safe="")
        version = quote(self.api_version, safe="")
        return f"{self.endpoint}/openai/deployments/{deployment}/chat/completions?api-version={version}"


def resolve_targets(name: str, config: ProviderConfig) -> list[AzureTarget]:
    """Every key's target, in key order; raise ConfigError listing every invalid key with its path."""
    targets: list[AzureTarget] = []
    errors: list[str] = []
    for index, key in enumerate(config.keys):
        target, key_errors = _resolve(key, config.network_config.base_url, f"$.providers.{name}", index)
        errors += key_errors
        if target is not None:
            targets.append(target)
    if errors:
        raise ConfigError(list(dict.fromkeys(errors)))  # a bad base_url is reported once, not once per key
    return targets


def check_keys(name: str, config: ProviderConfig) -> list[str]:
    """The config errors of a provider entry's keys (empty when all are valid)."""
    try:
        resolve_targets(name, config)
    except ConfigError as exc:
        return exc.errors
    return []


def _resolve(key: ProviderKey, base_url: str | None, provider: str, index: int) -> tuple[AzureTarget | None, list[str]]:
    where = f"{provider}.keys[{index}].azure_key_config"
    raw: Any = key.azure_key_config
    if raw is None and base_url is None:
        return None, [f"{where}: required (endpoint, deployments, api_version), or set network_config.base_url"]
    raw = raw or {}
    try:
        parsed: AzureKeyConfig | None = convert_config(raw, AzureKeyConfig, where)
    except ConfigError as exc:
        parsed, errors = None, exc.errors
    else:
        errors = []
    # Checked even when the Struct is invalid, so one pass reports every problem of the key.
    endpoint = raw.get("endpoint") or base_url
    named_at = f"{where}.endpoint" if raw.get("endpoint") else f"{provider}.network_config.base_url"
    if endpoint is None:
        errors.append(f"{where}.endpoint: required (e.g. https://<resource>.openai.azure.com)")
    elif isinstance(endpoint, str) and (problem := _endpoint_problem(endpoint)):
        errors.append(f"{named_at}: {problem}")
    if parsed is None or errors or not isinstance(endpoint, str):
        return None, errors
    return AzureTarget(endpoint.rstrip("/"), dict(parsed.deployments), parsed.api_version), []


def _endpoint_problem(endpoint: str) -> str | None:
    """Why `endpoint` cannot be the origin of the deployment URLs, or None."""
    try:
        parts = urlsplit(endpoint)
    except ValueError as exc:  # e.g. an invalid IPv6 literal
        return f"not a URL ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"must be an http(s) URL such as https://<resource>.openai.azure.com, got {endpoint!r}"
    if parts.query or parts.fragment:
        return "must not carry a query or fragment (set api_version instead)"
    return None
