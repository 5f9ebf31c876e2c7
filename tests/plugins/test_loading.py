"""Plugin loading: built-ins come from the `gateway` entry-point group; `plugins[]` disables or adds plugins."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config import ConfigError, parse_settings
from gateway.plugins import load_plugins
from gateway.testing import post_once
from tests.conftest import MakeGateway

BUILT_INS = {"routing", "client_keys", "provider_anthropic", "provider_openai", "provider_mock"}
ASK = {"model": "mock/m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


def test_built_in_plugins_load_from_the_entry_point_group() -> None:
    pm = load_plugins(parse_settings({})).pm
    assert BUILT_INS <= {name for name, _ in pm.list_name_plugin()}


def test_a_disabled_built_in_is_not_registered() -> None:
    pm = load_plugins(parse_settings({"plugins": [{"name": "provider_openai", "enabled": False}]})).pm
    assert pm.get_plugin("provider_openai") is None
    with pytest.raises(ConfigError) as error:
        load_plugins(
            parse_settings({"providers": {"mock": {}}, "plugins": [{"name": "provider_mock", "enabled": False}]})
        )
    assert error.value.errors[0].startswith("$.providers.mock: unknown provider kind 'mock'")


async def test_disabling_client_keys_makes_every_caller_anonymous(make_gateway: MakeGateway) -> None:
    config: dict[str, Any] = {
        "providers": {"mock": {}},
        "client": {"enforce_auth_on_inference": True},
        "plugins": [{"name": "client_keys", "enabled": False}],
    }
    gw = await make_gateway(config)
    assert (await post_once(gw.url + "/v1/messages", ASK, key="k")).status == 401


async def test_a_plugin_loaded_by_path_runs_its_hooks(make_gateway: MakeGateway) -> None:
    entry = {"name": "model_aliases", "path": "examples.model_aliases", "config": {"aliases": {"x": ["mock/y"]}}}
    gw = await make_gateway({"providers": {"mock": {}}, "plugins": [entry]})
    response = await post_once(gw.url + "/v1/messages", {**ASK, "model": "x"}, key=None)
    assert response.status == 200
    assert response.json()["model"] == "x"


def test_config_for_a_plugin_that_declares_none_is_an_error() -> None:
    entry = {"name": "aliases", "path": "examples.model_aliases", "config": {"aliases": {}}}
    with pytest.raises(ConfigError) as error:
        load_plugins(parse_settings({"plugins": [entry]}))
    assert error.value.errors == [
        "$.plugins[0].config: no loaded plugin declares a config named 'aliases' (it is the name given to registry.add)"
    ]
