"""The audit log, installed from its own package and loaded by its entry point, tested with gateway.testing."""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import anthropic
import pytest

from gateway.testing import FakeUpstream, MakeGateway, Reply, anthropic_message, anthropic_usage, upstream_config

HI: list[anthropic.types.MessageParam] = [{"role": "user", "content": "hi"}]


def audited(url: str, path: Path, **governance: Any) -> dict[str, Any]:
    config = upstream_config(url) | {"plugins": [{"name": "audit_log", "config": {"path": str(path)}}]}
    return config | ({"governance": governance} if governance else {})


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_every_call_is_written_with_its_caller_model_cost_and_decision(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    path = tmp_path / "audit.jsonl"
    usage = anthropic_usage(1_000, 500)
    fake_upstream.default("/v1/messages", Reply.json(anthropic_message("ok", usage=usage)))
    gw = await make_gateway(audited(fake_upstream.url, path))
    async with gw.anthropic() as client:
        await client.messages.create(model="anthropic/claude-sonnet-4-5", max_tokens=10, messages=HI)
        fake_upstream.script(
            "/v1/messages", Reply.error(400, "invalid_request_error", "bad tools", dialect="anthropic")
        )
        with pytest.raises(anthropic.BadRequestError):
            await client.messages.create(model="anthropic/claude-x", max_tokens=10, messages=HI)
    served, refused = await _wait_for_lines(path, 2)
    assert served["decision"] == "allowed" and served["model"] == "anthropic/claude-sonnet-4-5"
    assert (served["provider"], served["upstream_model"]) == ("anthropic", "claude-sonnet-4-5")
    assert (served["input_tokens"], served["output_tokens"]) == (1_000, 500)
    assert served["cost_usd"] == pytest.approx(1_000 * 3e-6 + 500 * 15e-6)  # the bundled Sonnet 4.5 price
    assert served["caller"]["kind"] == "client_key" and served["request_id"].startswith("req_")
    assert refused["decision"] == "failed" and refused["status"] == 400
    assert refused["error"] == "invalid_request_error: bad tools" and refused["provider"] == "anthropic"


async def test_denials_name_the_caller_and_the_reason(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    path = tmp_path / "audit.jsonl"
    value = "sk-bf-audit-test-key-000000000000"
    key = {"id": "vk-1", "name": "ci", "value": value, "team_id": "eng", "provider_configs": [{"provider": "mock"}]}
    gw = await make_gateway(audited(fake_upstream.url, path, virtual_keys=[key], teams=[{"id": "eng"}]))
    async with gw.anthropic(api_key=value) as client:
        await client.messages.create(model="mock/m", max_tokens=10, messages=HI)
        with pytest.raises(anthropic.PermissionDeniedError):
            await client.messages.create(model="anthropic/claude-x", max_tokens=10, messages=HI)
    allowed, denied = await _wait_for_lines(path, 2)
    assert allowed["caller"] == {"id": "vk-1", "name": "ci", "kind": "virtual_key", "team": "eng"}
    assert allowed["decision"] == "allowed" and allowed["cost_usd"] == 0.0  # mock is free
    assert denied["decision"] == "denied" and denied["status"] == 403
    assert "not allowed for virtual key 'ci'" in denied["error"]
    assert value not in "\n".join(json.dumps(line) for line in lines(path))


MCP_SERVER = textwrap.dedent("""
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("audit-test")

    @server.tool()
    def echo(text: str) -> str:
        return text

    server.run("stdio")
""")


async def test_tool_calls_are_written_with_their_caller_tool_and_outcome(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    path = tmp_path / "audit.jsonl"
    script = tmp_path / "server.py"
    script.write_text(MCP_SERVER)
    config = audited(fake_upstream.url, path)
    stdio = {"command": sys.executable, "args": [str(script)]}
    config["mcp"] = {"client_configs": [{"name": "local", "connection_type": "stdio", "stdio_config": stdio}]}
    gw = await make_gateway(config)
    async with gw.http() as http:
        for name in ("local-echo", "local-nothing"):
            call = {"id": "call_1", "type": "function", "function": {"name": name, "arguments": '{"text": "hi"}'}}
            await http.post("/v1/mcp/tool/execute", call)
    ran, unknown = await _wait_for_lines(path, 2)
    assert ran["kind"] == "tool_call" and ran["tool"] == "local-echo" and ran["via"] == "execute"
    assert ran["decision"] == "allowed" and "error" not in ran and ran["caller"]["kind"] == "client_key"
    assert ran["duration_ms"] > 0 and "is_error" not in ran  # omitted when false
    assert unknown["tool"] == "local-nothing" and unknown["decision"] == "failed" and unknown["status"] == 404
    assert unknown["error"].startswith("tool_execution_error: unknown tool")


async def test_unconfigured_it_writes_nothing(make_gateway: MakeGateway, tmp_path: Path) -> None:
    gw = await make_gateway({"providers": {"mock": {}}})
    async with gw.anthropic() as client:
        await client.messages.create(model="mock/m", max_tokens=10, messages=HI)
    assert written(tmp_path) == []


async def _wait_for_lines(path: Path, n: int) -> list[dict[str, Any]]:
    """The log's lines once there are `n` (observers write just after the answer went out)."""
    for _ in range(200):
        if len(found := lines(path)) >= n:
            return found
        await asyncio.sleep(0.01)
    raise AssertionError(f"the audit log has {lines(path)}")


def written(folder: Path) -> list[Path]:
    return list(folder.rglob("*.jsonl"))
