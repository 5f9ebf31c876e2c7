"""`gateway check-config` reads the semantic_cache entry: its fields typed, checks across fields, a disabled entry
not read at all."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.cli_helpers import run_cli


def check(tmp_path: Path, entry: dict[str, Any]) -> tuple[int, str]:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"providers": {"mock": {}}, "plugins": [entry]}))
    result = run_cli("check-config", str(path), env=dict(os.environ))
    return result.returncode, result.stdout + result.stderr


def test_valid_configs_pass(tmp_path: Path) -> None:
    bifrost = {"dimension": 1, "ttl": 300, "threshold": 0.85, "cache_by_model": True}
    redis = {"ttl": "1h", "cache_store": {"type": "redis", "config": {"addr": "redis://127.0.0.1:6390/2"}}}
    local = {"embedding_model": "local", "dimension": 128}
    for config in (bifrost, redis, local, {}):
        code, output = check(tmp_path, {"name": "semantic_cache", "config": config})
        assert code == 0, output
        assert "warning" not in output.lower(), output  # no longer one of Bifrost's ignored plugins


def test_errors_name_their_paths(tmp_path: Path) -> None:
    config = {"ttl": "soon", "threshold": 2, "provider": "openai", "cache_store": {"type": "disk"}, "colour": 1}
    code, output = check(tmp_path, {"name": "semantic_cache", "config": config})
    assert code != 0
    for expected in ("$.plugins[0].config.threshold", "$.plugins[0].config.cache_store.type", "colour"):
        assert expected in output, output
    code, output = check(tmp_path, {"name": "semantic_cache", "config": {"ttl": "soon", "provider": "openai"}})
    assert "$.plugins[0].config.ttl: 'soon' is not a duration" in output, output
    assert "$.plugins[0].config.embedding_model: semantic mode (a provider) needs an embedding_model" in output


def test_a_disabled_entry_is_not_read(tmp_path: Path) -> None:
    code, output = check(tmp_path, {"name": "semantic_cache", "enabled": False, "config": {"ttl": "soon"}})
    assert code == 0, output


def test_the_config_schema_types_the_entry() -> None:
    schema = json.loads((Path(__file__).parents[2] / "config" / "schema.json").read_text())
    rules = schema["$defs"]["PluginEntry"]["allOf"]
    rule = next(r for r in rules if r["if"]["properties"]["name"]["const"] == "semantic_cache")
    config = rule["then"]["properties"]["config"]
    properties = schema["$defs"][config["$ref"].split("/")[-1]]["properties"]
    assert {"ttl", "threshold", "default_cache_key", "cache_store", "provider", "embedding_model"} <= set(properties)


def test_the_local_model_is_checked(tmp_path: Path) -> None:
    code, output = check(tmp_path, {"name": "semantic_cache", "config": {"embedding_model": "text-embedding-3-small"}})
    assert code != 0
    assert "$.plugins[0].config.embedding_model: 'text-embedding-3-small' needs a provider to call" in output, output
    code, output = check(
        tmp_path, {"name": "semantic_cache", "config": {"embedding_model": "local", "dimension": 1536}}
    )
    assert code != 0
    assert "$.plugins[0].config.dimension: the local model's dimension is one of 64, 128, 256" in output, output
