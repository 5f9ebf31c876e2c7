"""gateway/bifrost.py stays true: no setting it lists as "not implemented" is one of our config fields, no
provider it lists is one we have, no plugin it lists is installed; and a version 1 config reads empty allow-lists
as "all"."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

import msgspec
import pytest

from gateway import bifrost
from gateway.config import Settings, parse_settings
from gateway.plugins import load_plugins

SECTIONS = load_plugins(Settings()).sections  # governance's Struct


def _struct(info: msgspec.inspect.Type) -> msgspec.inspect.StructType | None:
    """The Struct inside a type: through optionals, unions with a Struct, lists and dicts."""
    while not isinstance(info, msgspec.inspect.StructType):
        if isinstance(info, msgspec.inspect.UnionType):
            structs = [t for t in info.types if isinstance(t, msgspec.inspect.StructType)]
            if not structs:
                return None
            info = structs[0]
        elif isinstance(info, msgspec.inspect.ListType):
            info = info.item_type
        elif isinstance(info, msgspec.inspect.DictType):
            info = info.value_type
        else:
            return None
    return info


def _ours(path: str) -> bool:
    """Whether `path` (a bifrost.FIELDS pattern) names a field of our config Structs (plugin sections included)."""
    info: msgspec.inspect.Type = msgspec.inspect.type_info(Settings)
    for part in (p.removesuffix("[]") for p in path.removeprefix("$.").split(".")):
        if part == "*":  # a dict's key: _struct goes through to its values
            continue
        struct = _struct(info)
        if struct is None:
            return False
        fields = {f.encode_name: f.type for f in struct.fields}
        if part not in fields:
            return False
        in_section = struct.cls is Settings and part in SECTIONS
        info = msgspec.inspect.type_info(SECTIONS[part]) if in_section else fields[part]
    return True


@pytest.mark.parametrize("path", bifrost.FIELDS)
def test_a_listed_bifrost_setting_is_not_one_of_ours(path: str) -> None:
    assert not _ours(path), f"{path} is implemented now: take it out of gateway/bifrost.py"


def test_the_walk_finds_our_own_fields() -> None:
    """The check above can fail: fields we have are found at every depth."""
    for path in (
        "$.client.enforce_auth_on_inference",
        "$.providers.*.network_config.max_conns_per_host",
        "$.providers.*.keys[].aliases",
        "$.governance.virtual_keys[].provider_configs[].budget_id",
        "$.governance.auth_config.admin_password",
    ):
        assert _ours(path), path


def test_listed_providers_and_plugins_are_not_ours() -> None:
    kinds = load_plugins(Settings()).providers.kinds
    assert not set(bifrost.PROVIDERS) & set(kinds)
    assert not set(bifrost.PLUGINS) & {ep.name for ep in entry_points(group="gateway")}


def test_version_1_reads_empty_allow_lists_as_all() -> None:
    def config(version: int) -> dict[str, Any]:
        key = {"name": "k", "value": "v", "models": []}
        vk = {
            "id": "a",
            "name": "a",
            "value": "sk-bf-a",
            "provider_configs": [{"provider": "mock", "allowed_models": []}],
        }
        return {"version": version, "providers": {"mock": {"keys": [key]}}, "governance": {"virtual_keys": [vk]}}

    v1, v2 = parse_settings(config(1)), parse_settings(config(2))
    assert v1.providers["mock"].keys[0].allows("any-model")
    assert v1.governance["virtual_keys"][0]["provider_configs"][0]["allowed_models"] == ["*"]
    assert not v2.providers["mock"].keys[0].allows("any-model")
    assert v2.governance["virtual_keys"][0]["provider_configs"][0]["allowed_models"] == []
