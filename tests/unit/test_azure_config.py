"""Azure key config: validation with JSON paths, deployment mapping and the URLs built from it."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config import ConfigError, ProviderConfig, parse_settings
from gateway_plugins.provider_azure.config import DEFAULT_API_VERSION, AzureTarget, check_keys, resolve_targets

ENDPOINT = "https://res.openai.azure.com"


def entry(*key_configs: dict[str, Any] | None, **extra: Any) -> ProviderConfig:
    """An azure provider entry with one key per config (None: a key without azure_key_config)."""
    keys = [{"value": f"k{i}", **({} if c is None else {"azure_key_config": c})} for i, c in enumerate(key_configs)]
    return parse_settings({"providers": {"azure": {"keys": keys, **extra}}}).providers["azure"]


def errors_of(config: ProviderConfig) -> list[str]:
    errors: list[str] = check_keys("azure", config)
    assert errors, "expected config errors"
    return errors


def test_chat_url_uses_deployment_and_api_version() -> None:
    target = AzureTarget(ENDPOINT, {"gpt-4o": "prod-4o"}, "2024-10-21")
    assert target.chat_url("gpt-4o") == (
        f"{ENDPOINT}/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21"
    )


def test_model_without_deployment_entry_is_its_own_deployment() -> None:
    target = AzureTarget(ENDPOINT, {"gpt-4o": "prod-4o"}, "v")
    assert target.deployment("gpt-4o-mini") == "gpt-4o-mini"
    assert "/openai/deployments/gpt-4o-mini/chat/completions" in target.chat_url("gpt-4o-mini")


def test_chat_url_escapes_path_and_query_parts() -> None:
    target = AzureTarget(ENDPOINT, {"odd": "a/b c"}, "2024-10-01 preview&x=1")
    assert target.chat_url("odd") == (
        f"{ENDPOINT}/openai/deployments/a%2Fb%20c/chat/completions?api-version=2024-10-01%20preview%26x%3D1"
    )


def test_resolve_defaults_and_strips_trailing_slash() -> None:
    [target] = resolve_targets("azure", entry({"endpoint": ENDPOINT + "/"}))
    assert target == AzureTarget(ENDPOINT, {}, DEFAULT_API_VERSION)


def test_resolve_keeps_key_order_and_settings() -> None:
    first = {"endpoint": "https://a.openai.azure.com", "deployments": {"m": "d"}, "api_version": "2025-01-01"}
    second = {"endpoint": "https://b.openai.azure.com"}
    targets = resolve_targets("azure", entry(first, second))
    assert [t.endpoint for t in targets] == ["https://a.openai.azure.com", "https://b.openai.azure.com"]
    assert targets[0].deployments == {"m": "d"} and targets[0].api_version == "2025-01-01"


def test_base_url_is_the_endpoint_of_keys_that_name_none() -> None:
    config = entry(None, {"deployments": {"m": "d"}}, network_config={"base_url": "http://127.0.0.1:9/"})
    assert [t.endpoint for t in resolve_targets("azure", config)] == ["http://127.0.0.1:9", "http://127.0.0.1:9"]


def test_key_without_azure_key_config_or_base_url() -> None:
    assert errors_of(entry(None)) == [
        "$.providers.azure.keys[0].azure_key_config: required (endpoint, deployments, api_version),"
        " or set network_config.base_url"
    ]


def test_missing_endpoint_names_its_path() -> None:
    [error] = errors_of(entry({"deployments": {}}))
    assert error.startswith("$.providers.azure.keys[0].azure_key_config.endpoint: required")


@pytest.mark.parametrize("endpoint", ["res.openai.azure.com", "ftp://res", "https://", "https://h/?api-version=1"])
def test_bad_endpoint_names_its_path(endpoint: str) -> None:
    [error] = errors_of(entry({"endpoint": endpoint}))
    assert error.startswith("$.providers.azure.keys[0].azure_key_config.endpoint: ")


def test_bad_base_url_fallback_is_reported_once_at_its_own_path() -> None:
    errors = errors_of(entry(None, None, network_config={"base_url": "nope"}))
    assert len(errors) == 1 and errors[0].startswith("$.providers.azure.network_config.base_url: ")


def test_every_problem_of_every_key_is_reported() -> None:
    good = {"endpoint": ENDPOINT}
    bad = {"endpoint": "ftp://x", "deployments": {"gpt-4o": ""}, "api_version": 7, "tenant": "t"}
    errors = errors_of(entry(good, bad))
    where = "$.providers.azure.keys[1].azure_key_config"
    assert {e.split(":")[0] for e in errors} == {
        f"{where}.endpoint",
        f"{where}.deployments.gpt-4o",
        f"{where}.api_version",
        f"{where}.tenant",
    }


def test_custom_provider_name_appears_in_paths() -> None:
    config = parse_settings(
        {
            "providers": {
                "eu-azure": {
                    "custom_provider_config": {"base_provider_type": "azure"},
                    "keys": [{"value": "k", "azure_key_config": {"endpoint": 3}}],
                }
            }
        }
    ).providers["eu-azure"]
    with pytest.raises(ConfigError) as caught:
        resolve_targets("eu-azure", config)
    assert caught.value.errors[0].startswith("$.providers.eu-azure.keys[0].azure_key_config.endpoint: ")
