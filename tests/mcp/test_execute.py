"""Manual execution (`POST /v1/mcp/tool/execute`) against real MCP servers, one over streamable HTTP (bearer token
required) and one over stdio with a slow and a failing tool: both formats, the filters, and every way a call can
fail, each a `tool_execution_error` with its status, never a 500 or a hang."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.testing import FakeUpstream, assert_anthropic_error, assert_openai_error
from tests.conftest import Gateway, MakeGateway
from tests.http.governance_helpers import VK_A, vk
from tests.http.governance_helpers import config as governance_config
from tests.mcp.helpers import TOKEN, HttpServer, free_port, http_client, http_server, mcp_config, stdio_client

EXECUTE = "/v1/mcp/tool/execute"
KIND = "tool_execution_error"


@pytest.fixture(scope="module")
def server() -> Iterator[HttpServer]:
    with http_server() as running:
        yield running


def stdio_with_more_tools(**fields: Any) -> dict[str, Any]:
    client = stdio_client(**fields)
    client["stdio_config"]["envs"]["MCP_TEST_MORE_TOOLS"] = "1"
    return client


@pytest.fixture
async def gateway(make_gateway: MakeGateway, fake_upstream: FakeUpstream, server: HttpServer) -> Gateway:
    clients = (http_client(server.url, tools_to_execute=["echo", "add"]), stdio_with_more_tools())
    config = mcp_config(fake_upstream, *clients)
    config["mcp"]["tool_manager_config"] = {"tool_execution_timeout": 1}
    return await make_gateway(config)


def openai_call(name: str, arguments: str) -> dict[str, Any]:
    return {"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}


def tool_use(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": "toolu_1", "name": name, "input": arguments}


async def execute(gateway: Gateway, body: Any, form: str = "", headers: dict[str, str] | None = None) -> Any:
    async with gateway.http() as http:
        path = f"{EXECUTE}?format={form}" if form else EXECUTE
        return await http.post(path, body, headers)


async def test_an_openai_tool_call_is_answered_with_a_tool_message(gateway: Gateway) -> None:
    answer = await execute(gateway, openai_call("docs-echo", '{"text": "hello"}'))
    assert answer.status == 200, answer
    assert answer.json() == {"role": "tool", "tool_call_id": "call_1", "content": "hello"}
    answer = await execute(gateway, openai_call("local-add", '{"a": 2, "b": 3}'), "openai")
    assert answer.json() == {"role": "tool", "tool_call_id": "call_1", "content": "5"}


async def test_an_anthropic_tool_use_is_answered_with_a_tool_result(gateway: Gateway) -> None:
    for name in ("docs-add", "local-add"):
        answer = await execute(gateway, tool_use(name, {"a": 40, "b": 2}), "anthropic")
        assert answer.status == 200, answer
        assert answer.json() == {
            "type": "tool_result",
            "tool_use_id": "toolu_1",
            "content": [{"type": "text", "text": "42"}],
            "is_error": False,
        }


async def test_a_tool_that_reports_an_error_ran_its_result_says_so(gateway: Gateway) -> None:
    answer = await execute(gateway, tool_use("local-fail", {"message": "disk full"}), "anthropic")
    assert answer.status == 200, answer
    result = answer.json()
    assert result["is_error"] is True
    assert "disk full" in result["content"][0]["text"]
    answer = await execute(gateway, openai_call("local-fail", '{"message": "disk full"}'))
    assert answer.status == 200, answer
    assert answer.json()["content"].startswith("Error: ")
    assert "disk full" in answer.json()["content"]


async def test_unknown_tools_are_404(gateway: Gateway) -> None:
    for name in ("nobody-echo", "local-nothing", "docs", "echo"):
        answer = await execute(gateway, openai_call(name, "{}"))
        assert_openai_error(answer, 404, KIND, "unknown tool", name)


async def test_a_tool_the_config_or_the_headers_do_not_allow_is_403(gateway: Gateway) -> None:
    answer = await execute(gateway, openai_call("docs-get_weather", '{"city": "Oslo"}'))
    assert_openai_error(answer, 403, KIND, "tools_to_execute")
    cases = [{"x-bf-mcp-include-clients": "local"}, {"x-bf-mcp-include-tools": "docs-add"}]
    for headers in cases:
        answer = await execute(gateway, openai_call("docs-echo", '{"text": "x"}'), headers=headers)
        assert_openai_error(answer, 403, KIND, "x-bf-mcp-include")
    allowed = {"x-bf-mcp-include-clients": "docs", "x-bf-mcp-include-tools": "docs-e*"}
    answer = await execute(gateway, openai_call("docs-echo", '{"text": "x"}'), headers=allowed)
    assert answer.json()["content"] == "x"


async def test_malformed_calls_are_400(gateway: Gateway) -> None:
    for arguments in ("not json", "[1, 2]", '"text"'):
        answer = await execute(gateway, openai_call("docs-echo", arguments))
        assert_openai_error(answer, 400, KIND, "function.arguments")
    for body, form in [
        (b"{", ""),
        ({"id": "call_1", "type": "function"}, ""),
        (openai_call("docs-echo", "{}"), "gemini"),
    ]:
        answer = await execute(gateway, body, form)
        assert_openai_error(answer, 400, "invalid_request_error")
    for body in [tool_use("docs-echo", {}) | {"input": [1]}, openai_call("docs-echo", "{}")]:  # not a tool_use
        answer = await execute(gateway, body, "anthropic")
        assert_anthropic_error(answer, 400, "invalid_request_error")


async def test_with_format_anthropic_errors_have_the_anthropic_shape(gateway: Gateway) -> None:
    cases = [
        (tool_use("nobody-echo", {}), 404, "unknown tool"),
        (tool_use("docs-get_weather", {"city": "Oslo"}), 403, "tools_to_execute"),
        (tool_use("local-slow", {"seconds": 30}), 504, "within 1s"),
    ]
    for body, status, words in cases:
        answer = await execute(gateway, body, "anthropic")
        assert_anthropic_error(answer, status, KIND, words)


async def test_a_tool_slower_than_its_timeout_is_504_in_time(gateway: Gateway) -> None:
    start = time.monotonic()
    answer = await execute(gateway, openai_call("local-slow", '{"seconds": 30}'))
    assert_openai_error(answer, 504, KIND, "within 1s")
    assert time.monotonic() - start < 10
    answer = await execute(gateway, openai_call("local-add", '{"a": 1, "b": 1}'))  # the connection still serves
    assert answer.json()["content"] == "2"


async def test_a_disconnected_server_is_503(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    down = HttpServer(free_port())
    gateway = await make_gateway(mcp_config(fake_upstream, http_client(down.url, name="down")))
    answer = await execute(gateway, openai_call("down-echo", '{"text": "x"}'))
    assert_openai_error(answer, 503, KIND, "disconnected")


async def test_the_caller_is_authenticated_as_for_inference(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, server: HttpServer
) -> None:
    config = governance_config(fake_upstream.url, vk("vk-a", VK_A), enforce_auth_on_inference=True)
    config["mcp"] = mcp_config(fake_upstream, http_client(server.url))["mcp"]
    gateway = await make_gateway(config)
    call = openai_call("docs-echo", '{"text": "hi"}')
    async with gateway.http(key=None) as http:
        assert_openai_error(await http.post(EXECUTE, call), 401, "authentication_error")
        answer = await http.post(EXECUTE, call, {"x-bf-vk": VK_A})
    assert answer.json()["content"] == "hi"
    assert TOKEN not in answer.body.decode()


async def test_a_server_that_stops_mid_call_is_an_error_not_a_hang(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCP_TEST_MORE_TOOLS", "1")
    with http_server() as dying:
        config = mcp_config(fake_upstream, http_client(dying.url, name="dying"))
        config["mcp"]["tool_manager_config"] = {"tool_execution_timeout": 20}
        gateway = await make_gateway(config)
        call = asyncio.create_task(execute(gateway, openai_call("dying-slow", '{"seconds": 30}')))
        await asyncio.sleep(0.5)
        start = time.monotonic()
        assert dying.process is not None
        dying.process.kill()  # at once: uvicorn's graceful stop would wait for the call
        dying.stop()
        answer = await asyncio.wait_for(call, 15)
    assert answer.status in (502, 503), answer
    assert_openai_error(answer, answer.status, KIND, "dying")
    assert time.monotonic() - start < 10
