"""`/mcp`: the gateway as an MCP server (streamable HTTP), reached with the `mcp` package's own client: it lists the
tools of its configured MCP clients (real servers, one over streamable HTTP with a bearer token, one over stdio
with a slow and a failing tool), filtered per caller, and runs them, authenticated, governed and recorded like
any call the gateway serves."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2
import pytest
from aiohttp import web
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, INVALID_REQUEST, TextContent

from gateway import CallContext, McpClientGrant, Principal, ToolCall, ToolOutcome, hookimpl
from gateway.testing import FakeUpstream
from tests.conftest import Gateway, MakeGateway
from tests.http.governance_helpers import VK_A, VK_B, vk
from tests.http.governance_helpers import config as governance_config
from tests.mcp.helpers import ECHO_SCHEMA, SERVER_TOOLS, TOKEN, HttpServer, http_client, http_server, mcp_config
from tests.mcp.test_execute import stdio_with_more_tools

VK_C = "sk-bf-test-key-cccccccccccccccc"
LOCAL = sorted([*SERVER_TOOLS, "fail", "slow"])
DOCS_ECHO_ONLY = [{"mcp_client_name": "docs", "tools_to_execute": ["echo"]}]


@pytest.fixture(scope="module")
def server() -> Iterator[HttpServer]:
    with http_server() as running:
        yield running


class Recorder:
    """Sees every tool call, as the audit log would."""

    def __init__(self) -> None:
        self.calls: asyncio.Queue[tuple[ToolCall, ToolOutcome, str | None]] = asyncio.Queue()

    @hookimpl
    def gw_record_tool_call(self, tool: ToolCall, outcome: ToolOutcome, ctx: CallContext) -> None:
        self.calls.put_nowait((tool, outcome, ctx.principal.id if ctx.principal else None))


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def gateway(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, server: HttpServer, recorder: Recorder
) -> Gateway:
    keys = (
        vk("vk-a", VK_A, mcp_configs=[*DOCS_ECHO_ONLY, {"mcp_client_name": "local", "tools_to_execute": ["*"]}]),
        vk("vk-b", VK_B, rate_limit={"request_max_limit": 2, "request_reset_duration": "1h"}),
        vk("vk-c", VK_C, is_active=False),
    )
    config = governance_config(fake_upstream.url, *keys, enforce_auth_on_inference=True)
    clients = (http_client(server.url, tools_to_execute=["echo", "add"]), stdio_with_more_tools())
    config["mcp"] = mcp_config(fake_upstream, *clients)["mcp"]
    config["mcp"]["tool_manager_config"] = {"tool_execution_timeout": 1}
    return await make_gateway(config, [recorder])


@contextlib.asynccontextmanager
async def connected(gateway: Gateway, headers: dict[str, str], mode: str = "auto") -> AsyncIterator[Client]:
    """The `mcp` package's client on the gateway's /mcp, over streamable HTTP, sending `headers`."""
    timeout = httpx2.Timeout(10, read=30)
    async with create_mcp_http_client(headers=headers, timeout=timeout) as http:
        transport = streamable_http_client(gateway.url + "/mcp", http_client=http)
        async with Client(transport, read_timeout_seconds=30, cache=None, mode=mode) as client:
            yield client


async def listed(gateway: Gateway, headers: dict[str, str]) -> list[str]:
    async with connected(gateway, headers) as client:
        return [tool.name for tool in (await client.list_tools()).tools]


def text(result: Any) -> str:
    assert all(isinstance(block, TextContent) for block in result.content), result
    return "\n".join(block.text for block in result.content)


async def test_tools_are_listed_per_key_whichever_header_carries_it(gateway: Gateway) -> None:
    for headers in ({"Authorization": f"Bearer {VK_A}"}, {"x-api-key": VK_A}, {"x-bf-vk": VK_A}):
        assert await listed(gateway, headers) == ["docs-echo", *[f"local-{tool}" for tool in LOCAL]]
    everything = ["docs-add", "docs-echo", *[f"local-{tool}" for tool in LOCAL]]
    assert await listed(gateway, {"x-bf-vk": VK_B}) == everything
    # A key without mcp_configs is filtered by the headers; one with them is not.
    assert await listed(gateway, {"x-bf-vk": VK_B, "x-bf-mcp-include-clients": "docs"}) == ["docs-add", "docs-echo"]
    assert await listed(gateway, {"x-bf-vk": VK_A, "x-bf-mcp-include-tools": ""}) == await listed(
        gateway, {"x-bf-vk": VK_A}
    )
    async with connected(gateway, {"x-bf-vk": VK_A}) as client:
        echo = next(tool for tool in (await client.list_tools()).tools if tool.name == "docs-echo")
    assert echo.description == "Say the text back." and echo.input_schema == ECHO_SCHEMA


async def test_a_tool_is_called_on_its_server_and_recorded(gateway: Gateway, recorder: Recorder) -> None:
    async with connected(gateway, {"Authorization": f"Bearer {VK_A}"}) as client:
        assert text(await client.call_tool("docs-echo", {"text": "through the gateway"})) == "through the gateway"
        assert text(await client.call_tool("local-add", {"a": 40, "b": 2})) == "42"
    seen = [await asyncio.wait_for(recorder.calls.get(), 5) for _ in range(2)]
    assert [(tool.name, tool.client, tool.tool, tool.via, who) for tool, _, who in seen] == [
        ("docs-echo", "docs", "echo", "mcp", "vk-a"),
        ("local-add", "local", "add", "mcp", "vk-a"),
    ]
    assert all(outcome.error is None and not outcome.is_error for _, outcome, _ in seen)


async def test_a_tool_the_key_may_not_use_or_that_does_not_exist_is_an_invalid_params_error(
    gateway: Gateway, recorder: Recorder
) -> None:
    async with connected(gateway, {"x-bf-vk": VK_A}) as client:
        with pytest.raises(MCPError) as refused:
            await client.call_tool("docs-add", {"a": 1, "b": 2})
        assert refused.value.code == INVALID_PARAMS
        assert "mcp_configs of virtual key 'vk-a'" in refused.value.message
        for name in ("docs-get_weather", "nobody-echo", "local-nothing"):
            with pytest.raises(MCPError) as unknown:
                await client.call_tool(name, {})
            assert unknown.value.code == INVALID_PARAMS and name in unknown.value.message
    tool, outcome, _ = await asyncio.wait_for(recorder.calls.get(), 5)
    assert tool.name == "docs-add" and outcome.error is not None and outcome.error.status == 403


async def test_a_failing_or_slow_tool_is_an_error_result_in_time(gateway: Gateway) -> None:
    async with connected(gateway, {"x-bf-vk": VK_B}) as client:
        failed = await client.call_tool("local-fail", {"message": "disk full"})
        assert failed.is_error is True and "disk full" in text(failed)
        start = time.monotonic()
        slow = await client.call_tool("local-slow", {"seconds": 30})
        assert slow.is_error is True and "did not answer within 1s" in text(slow)
        assert time.monotonic() - start < 10


async def test_the_keys_rate_limit_counts_tool_calls(gateway: Gateway) -> None:
    async with connected(gateway, {"x-bf-vk": VK_B}) as client:
        for _ in range(2):
            assert text(await client.call_tool("docs-echo", {"text": "x"})) == "x"
        with pytest.raises(MCPError) as limited:
            await client.call_tool("docs-echo", {"text": "x"})
        await client.list_tools()  # listing runs no tool: not counted, not refused
    assert limited.value.code == INVALID_REQUEST and limited.value.data["status"] == 429
    assert "rate limit" in limited.value.message


async def test_no_key_when_one_is_required_or_a_disabled_key_is_refused_over_http(gateway: Gateway) -> None:
    probe = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    accept = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2026-07-28"}
    async with gateway.http(key=None) as http:
        for headers, status, words in [
            ({}, 401, "a virtual key is required"),
            ({"x-bf-vk": VK_C}, 403, "virtual key 'vk-c' is inactive"),
            ({"x-bf-vk": "sk-bf-not-a-key"}, 401, "invalid virtual key"),
        ]:
            refused = await http.post("/mcp", probe, accept | headers)
            assert refused.status == status, refused
            error = refused.json()["error"]  # a JSON-RPC error, which MCP clients show
            assert words in error["message"] and error["data"]["status"] == status, error
    for headers, words in [({}, "a virtual key is required"), ({"x-bf-vk": VK_C}, "inactive")]:
        with pytest.raises(ExceptionGroup) as raised:  # anyio's, around the MCPError the client read
            await listed(gateway, headers)
        leaf: BaseException = raised.value
        while isinstance(leaf, BaseExceptionGroup):
            leaf = leaf.exceptions[0]
        assert isinstance(leaf, MCPError) and words in leaf.message, leaf


async def test_an_older_client_with_the_initialize_handshake_is_served_too(gateway: Gateway) -> None:
    async with connected(gateway, {"x-bf-vk": VK_A}, mode="legacy") as client:
        assert "docs-echo" in [tool.name for tool in (await client.list_tools()).tools]
        assert text(await client.call_tool("docs-echo", {"text": "old"})) == "old"


async def test_no_secret_in_any_answer_or_log(gateway: Gateway, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    answers = []
    async with connected(gateway, {"x-bf-vk": VK_A}) as client:
        answers.append((await client.list_tools()).model_dump_json())
        answers.append((await client.call_tool("docs-echo", {"text": "x"})).model_dump_json())
        with pytest.raises(MCPError) as refused:
            await client.call_tool("docs-add", {"a": 1, "b": 2})
        answers.append(refused.value.message)
    for secret in (VK_A, TOKEN):
        assert not any(secret in answer for answer in answers)
        assert secret not in caplog.text


async def test_bad_requests_are_protocol_errors_not_500s(gateway: Gateway) -> None:
    accept = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2026-07-28", "x-bf-vk": VK_A}
    async with gateway.http(key=None) as http:
        broken = await http.post("/mcp", b'{"jsonrpc": "2.0", "id": 1, "method": ', accept)
        assert broken.status == 400 and broken.json()["error"]["code"] == -32700, broken  # parse error
        assert (await http.get("/mcp", accept)).status == 405
        assert (await http.post("/mcp", {}, accept | {"Accept": "text/html"})).status == 406
    async with connected(gateway, {"x-bf-vk": VK_A}) as client:
        bad = await client.call_tool("docs-echo", {"text": ["not", "a", "string"]})
    assert bad.is_error is True and "text" in text(bad)  # the server's own validation, relayed


async def test_with_no_mcp_client_configured_the_list_is_empty(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    gateway = await make_gateway(mcp_config(fake_upstream))
    async with connected(gateway, {"x-api-key": "any"}) as client:
        assert (await client.list_tools()).tools == []
        with pytest.raises(MCPError) as unknown:
            await client.call_tool("docs-echo", {"text": "x"})
    assert unknown.value.code == INVALID_PARAMS


async def test_another_authenticator_grants_tools_through_the_principal(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, server: HttpServer
) -> None:
    class ToyAuth:
        """Grants the caller named in x-toy-user docs' add tool, as a JWT's claims could."""

        @hookimpl(tryfirst=True)
        def gw_authenticate(self, request: web.Request) -> Principal | None:
            user = request.headers.get("x-toy-user")
            grant = McpClientGrant(mcp_client_name="docs", tools_to_execute=("add",))
            return Principal(id=user, kind="toy", mcp_configs=(grant,)) if user else None

    gateway = await make_gateway(mcp_config(fake_upstream, http_client(server.url)), [ToyAuth()])
    async with connected(gateway, {"x-toy-user": "alice"}) as client:
        assert [tool.name for tool in (await client.list_tools()).tools] == ["docs-add"]
        assert text(await client.call_tool("docs-add", {"a": 1, "b": 2})) == "3"
        with pytest.raises(MCPError) as refused:
            await client.call_tool("docs-echo", {"text": "x"})
    assert "mcp_configs of toy 'alice'" in refused.value.message
