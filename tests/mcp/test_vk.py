"""A virtual key's `mcp_configs` decide which MCP clients and tools its calls get, in injection and in
`POST /v1/mcp/tool/execute`, replacing the x-bf-mcp-include-* headers and intersected with each client's own
`tools_to_execute`; set in the config file or through the admin API, checked in both; the key's request rate
limit and state govern its tool calls as they govern its inference calls."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.testing import FakeUpstream, assert_openai_error
from tests.conftest import Gateway, MakeGateway
from tests.http.governance_helpers import ADMIN, VK_A, VK_B, admin, vk
from tests.http.governance_helpers import config as governance_config
from tests.mcp.helpers import ROOT, SERVER_TOOLS, HttpServer, http_client, http_server, mcp_config, sent_tool_names

EXECUTE = "/v1/mcp/tool/execute"
KIND = "tool_execution_error"
DOCS_ECHO_ONLY = [{"mcp_client_name": "docs", "tools_to_execute": ["echo"]}]


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[HttpServer, HttpServer]]:
    with http_server() as docs, http_server() as wiki:
        yield docs, wiki


def gateway_config(fake: FakeUpstream, servers: tuple[HttpServer, HttpServer], *keys: dict[str, Any]) -> Any:
    """Two MCP clients, docs (echo and add only) and wiki (all its tools), and the keys."""
    docs, wiki = servers
    config = governance_config(fake.url, *keys)
    clients = (http_client(docs.url, tools_to_execute=["echo", "add"]), http_client(wiki.url, name="wiki"))
    config["mcp"] = mcp_config(fake, *clients)["mcp"]
    return config


async def offered(gateway: Gateway, fake: FakeUpstream, key: str, headers: dict[str, str] | None = None) -> list[str]:
    """The MCP tool names a call with `key` (and the headers) carried upstream."""
    client = gateway.anthropic(api_key=key)
    await client.messages.create(
        model="anthropic/claude-x",
        max_tokens=16,
        messages=[{"role": "user", "content": "Hi"}],
        extra_headers=headers or {},
    )
    return sent_tool_names(fake)


async def execute(gateway: Gateway, key: str, name: str, headers: dict[str, str] | None = None) -> Any:
    call = {"id": "call_1", "type": "function", "function": {"name": name, "arguments": '{"text": "hi"}'}}
    async with gateway.http(key=None) as http:
        return await http.post(EXECUTE, call, {"x-bf-vk": key, **(headers or {})})


@pytest.fixture
async def gateway(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, servers: tuple[HttpServer, HttpServer]
) -> Gateway:
    keys = (
        vk("vk-a", VK_A, mcp_configs=[*DOCS_ECHO_ONLY, {"mcp_client_name": "wiki", "tools_to_execute": ["*"]}]),
        vk("vk-b", VK_B),
    )
    return await make_gateway(gateway_config(fake_upstream, servers, *keys))


async def test_a_keys_mcp_configs_choose_its_tools_and_replace_the_headers(
    gateway: Gateway, fake_upstream: FakeUpstream
) -> None:
    wiki = [f"wiki-{tool}" for tool in SERVER_TOOLS]
    assert await offered(gateway, fake_upstream, VK_A) == ["docs-echo", *wiki]
    narrowing = {"x-bf-mcp-include-clients": "docs", "x-bf-mcp-include-tools": ""}
    assert await offered(gateway, fake_upstream, VK_A, narrowing) == [
        "docs-echo",
        *wiki,
    ]  # the key's config, not the headers
    # A key without mcp_configs: the client configs, then the headers, as for any call.
    assert await offered(gateway, fake_upstream, VK_B) == ["docs-add", "docs-echo", *wiki]
    assert await offered(gateway, fake_upstream, VK_B, {"x-bf-mcp-include-clients": "docs"}) == [
        "docs-add",
        "docs-echo",
    ]


async def test_a_client_the_key_does_not_name_is_not_available_to_it(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, servers: tuple[HttpServer, HttpServer]
) -> None:
    key = vk("vk-a", VK_A, mcp_configs=[{"mcp_client_name": "docs", "tools_to_execute": ["*"]}])
    gateway = await make_gateway(gateway_config(fake_upstream, servers, key))
    # "*" is every tool the client's own tools_to_execute allows (echo, add), not get_weather.
    assert await offered(gateway, fake_upstream, VK_A) == ["docs-add", "docs-echo"]
    answer = await execute(gateway, VK_A, "wiki-echo", {"x-bf-mcp-include-clients": "wiki"})
    assert_openai_error(answer, 403, KIND, "wiki-echo", "mcp_configs of virtual key 'vk-a'")
    answer = await execute(gateway, VK_A, "docs-get_weather")
    assert_openai_error(answer, 403, KIND, "tools_to_execute")


async def test_execute_follows_the_keys_mcp_configs(gateway: Gateway) -> None:
    answer = await execute(gateway, VK_A, "docs-echo", {"x-bf-mcp-include-tools": ""})  # headers ignored
    assert answer.status == 200, answer
    assert answer.json()["content"] == "hi"
    answer = await execute(gateway, VK_A, "docs-add")
    message = assert_openai_error(answer, 403, KIND, "docs-add", "mcp_configs of virtual key 'vk-a'")
    assert VK_A not in message
    answer = await execute(gateway, VK_B, "docs-echo", {"x-bf-mcp-include-tools": "wiki-*"})
    assert_openai_error(answer, 403, KIND, "x-bf-mcp-include")


async def test_mcp_configs_through_the_admin_api_are_checked_and_apply_at_once(
    gateway: Gateway, fake_upstream: FakeUpstream
) -> None:
    async with gateway.http(key=None) as http:
        created = await admin(http, "POST", "/virtual-keys", vk("vk-c", "ignored", mcp_configs=DOCS_ECHO_ONLY))
        assert created.status == 201, created
        assert created.json()["mcp_configs"] == DOCS_ECHO_ONLY
        key = created.json()["value"]
        assert await offered(gateway, fake_upstream, key) == ["docs-echo"]
        wider = {"mcp_configs": [{"mcp_client_name": "docs", "tools_to_execute": ["echo", "add"]}]}
        updated = await admin(http, "PUT", "/virtual-keys/vk-c", wider)
        assert updated.json()["mcp_configs"] == wider["mcp_configs"]
        assert await offered(gateway, fake_upstream, key) == ["docs-add", "docs-echo"]
        for bad in (
            {"mcp_configs": [{"mcp_client": "docs"}]},
            {"mcp_configs": [{"mcp_client_name": "docs"}, {"mcp_client_name": "docs"}]},
            {"mcp_configs": [{"mcp_client_name": "docs", "tools_to_execute": "echo"}]},
        ):
            answer = await admin(http, "PUT", "/virtual-keys/vk-c", bad)
            assert_openai_error(answer, 400, "invalid_request_error", "mcp_configs")


def test_mcp_configs_in_the_config_file_are_checked(tmp_path: Any) -> None:
    twice = [{"mcp_client_name": "docs"}, {"mcp_client_name": "docs", "tools_to_execute": ["*"]}]
    config = {"governance": {"virtual_keys": [vk("vk-a", VK_A, mcp_configs=twice)]}}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    command = [sys.executable, "-m", "gateway", "check-config", str(path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "mcp_configs names the MCP client docs more than once" in done.stdout + done.stderr
    assert "$.governance.virtual_keys[0]" in done.stdout + done.stderr


async def test_tool_calls_count_against_the_keys_request_rate_limit_and_need_an_active_key(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, servers: tuple[HttpServer, HttpServer]
) -> None:
    limited = vk("vk-a", VK_A, rate_limit={"request_max_limit": 2, "request_reset_duration": "1h"})
    inactive = vk("vk-b", VK_B, is_active=False)
    gateway = await make_gateway(gateway_config(fake_upstream, servers, limited, inactive))
    for _ in range(2):
        assert (await execute(gateway, VK_A, "docs-echo")).status == 200
    assert_openai_error(await execute(gateway, VK_A, "docs-echo"), 429, "rate_limit_error")
    assert_openai_error(await execute(gateway, VK_B, "docs-echo"), 403, "permission_error", "inactive")
    async with gateway.http(key=None) as http:
        usage = await admin(http, "GET", "/virtual-keys/vk-a/usage")
    assert ADMIN not in usage.body.decode()
    assert [meter["used"] for meter in usage.json()["meters"] if meter["meter"].startswith("requests:")] == [2.0]
