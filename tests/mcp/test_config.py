"""The `mcp` section under `gateway check-config`: every problem named by its path in one pass, secrets read from
the environment and never printed, Bifrost's MCP settings we do not implement as warnings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.cli_helpers import ROOT, cli_env, run_cli

SECRET = "mcp-header-secret-value-0123456789"


def check(tmp_path: Path, mcp: dict[str, Any], **env: str) -> tuple[int, list[str]]:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"providers": {"mock": {}}, "mcp": mcp}))
    result = run_cli("check-config", str(path), env=cli_env(**env))
    return result.returncode, (result.stderr + result.stdout).splitlines()


def test_every_mcp_error_is_named_by_its_path(tmp_path: Path) -> None:
    clients = [
        {"name": "files", "connection_type": "ftp", "connection_string": "ftp://x"},
        {"name": "bad-name", "connection_type": "stdio", "stdio_config": {"command": "x"}},
        {"name": "auto", "connection_type": "stdio", "stdio_config": {"command": "x", "argz": []}},
    ]
    code, lines = check(
        tmp_path, {"client_configs": clients, "tool_manager_config": {"max_agent_depth": 51}, "tool_sync": 1}
    )
    assert code == 1
    expected = [
        "$.mcp.client_configs[0].connection_type: Invalid enum value 'ftp'",
        "$.mcp.client_configs[2].stdio_config.argz: unknown key",
        "$.mcp.client_configs[1].name: Expected `str` matching regex",
        "$.mcp.tool_manager_config.max_agent_depth: Expected `int` <= 50",
        "$.mcp.tool_sync: unknown key",
    ]
    for start in expected:
        assert any(line.startswith(start) for line in lines), (start, lines)


def test_checks_across_fields_name_their_paths(tmp_path: Path) -> None:
    clients = [
        {"name": "web", "connection_type": "http"},
        {"name": "local", "connection_type": "stdio"},
        {"name": "web", "connection_type": "sse", "connection_string": "localhost:1/sse"},
        {
            "name": "picky",
            "connection_type": "stdio",
            "stdio_config": {"command": "x"},
            "tools_to_execute": ["read"],
            "tools_to_auto_execute": ["read", "write"],
        },
    ]
    code, lines = check(tmp_path, {"client_configs": clients})
    assert code == 1
    assert lines == [
        "$.mcp.client_configs[0]: an http client needs `connection_string` (the server's URL)",
        "$.mcp.client_configs[1]: a stdio client needs `stdio_config`",
        "$.mcp.client_configs[2].name: 'web' is the name of an earlier client",
        "$.mcp.client_configs[2].connection_string: expected an http:// or https:// URL",
        "$.mcp.client_configs[3].tools_to_auto_execute: write not in tools_to_execute"
        " (a tool not offered to models cannot be run for them)",
    ]


def test_env_references_resolve_and_bifrost_extras_are_warnings(tmp_path: Path) -> None:
    client = {
        "name": "web",
        "connection_type": "http",
        "connection_string": "env.MCP_TEST_URL",
        "headers": {"Authorization": "env.MCP_TEST_TOKEN"},
        "is_ping_available": True,
        "client_id": "abc",
    }
    mcp = {"client_configs": [client], "health_monitor_config": {}}
    code, lines = check(tmp_path, mcp, MCP_TEST_URL="https://mcp.example.com/mcp", MCP_TEST_TOKEN=SECRET)
    assert code == 0, lines
    assert sorted(line.split(":")[1].strip() for line in lines if line.startswith("warning")) == [
        "$.mcp.client_configs[0].client_id",
        "$.mcp.client_configs[0].is_ping_available",
        "$.mcp.health_monitor_config",
    ]
    code, lines = check(tmp_path, mcp, MCP_TEST_URL="https://mcp.example.com/mcp", MCP_TEST_TOKEN=None)  # type: ignore[arg-type]
    assert code == 1
    assert "$.mcp.client_configs[0].headers.Authorization: environment variable MCP_TEST_TOKEN is not set" in lines
    assert not any(SECRET in line for line in lines)


def test_the_config_schema_covers_the_section() -> None:
    """An editor validating against config/schema.json accepts a good `mcp` section and flags a bad one; the
    section's Struct names do not replace the core's in the schema (`client` keeps its own keys)."""
    import jsonschema_rs

    schema = json.loads((ROOT / "config" / "schema.json").read_text())
    validator = jsonschema_rs.validator_for(schema)
    client = {
        "name": "web",
        "connection_type": "http",
        "connection_string": "https://mcp.example.com/mcp",
        "headers": {"Authorization": "env.MCP_TOKEN"},
        "tools_to_execute": ["*"],
        "tools_to_auto_execute": ["search"],
        "tool_execution_timeout": 20,
    }
    good = {
        "mcp": {"client_configs": [client], "tool_manager_config": {"max_agent_depth": 5}, "tool_sync_interval": 60}
    }
    assert validator.is_valid({**good, "client": {"mcp_disable_auto_tool_inject": True, "allowed_origins": []}})
    assert not validator.is_valid({"mcp": {"client_configs": [{**client, "connection_type": "ftp"}]}})
    assert not validator.is_valid({"mcp": {"tool_manager_config": {"max_agent_depth": 0}}})
    assert not validator.is_valid({"mcp": {"client_configs": [{**client, "name": "has-hyphen"}]}})
