"""Tool injection: the tools of real MCP servers (one over stdio, one over streamable HTTP with a bearer token)
reach every model call, after the client's own tools, sorted, with the servers' schemas, through both SDKs and
for providers of either dialect; the config's allow-list and the x-bf-mcp-include-* headers filter them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from openai.types.chat import ChatCompletionFunctionToolParam

from gateway.testing import FakeUpstream
from tests.conftest import MakeGateway
from tests.mcp.helpers import (
    CHAT,
    ECHO_SCHEMA,
    MESSAGES,
    SERVER_TOOLS,
    HttpServer,
    http_client,
    http_server,
    mcp_config,
    sent_tool_names,
    stdio_client,
)

OWN_TOOL = {"name": "zz_client_tool", "description": "The client's own.", "input_schema": {"type": "object"}}
ALL_MCP = [f"docs-{tool}" for tool in SERVER_TOOLS] + [f"local-{tool}" for tool in SERVER_TOOLS]


@pytest.fixture(scope="module")
def server() -> Iterator[HttpServer]:
    with http_server() as running:
        yield running


async def ask_anthropic(gateway: Any, headers: dict[str, str] | None = None, **fields: Any) -> None:
    await gateway.anthropic().messages.create(
        model="anthropic/claude-x",
        max_tokens=16,
        messages=[{"role": "user", "content": "Hi"}],
        extra_headers=headers or {},
        **fields,
    )


async def test_both_servers_tools_follow_the_clients_own_sorted_with_their_schemas(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, server: HttpServer
) -> None:
    gateway = await make_gateway(mcp_config(fake_upstream, stdio_client(), http_client(server.url)))
    await ask_anthropic(gateway, tools=[OWN_TOOL])
    assert sent_tool_names(fake_upstream) == ["zz_client_tool", *ALL_MCP]
    sent = {tool["name"]: tool for tool in fake_upstream.requests_to(MESSAGES)[-1].json["tools"]}
    for client in ("docs", "local"):
        assert sent[f"{client}-echo"] == {
            "name": f"{client}-echo",
            "description": "Say the text back.",
            "input_schema": ECHO_SCHEMA,
        }
    unit = sent["local-get_weather"]["input_schema"]["properties"]["unit"]
    assert unit == {"default": "celsius", "enum": ["celsius", "fahrenheit"], "title": "Unit", "type": "string"}


async def test_an_openai_client_and_provider_get_them_as_functions(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, server: HttpServer
) -> None:
    gateway = await make_gateway(mcp_config(fake_upstream, http_client(server.url)))
    own: ChatCompletionFunctionToolParam = {
        "type": "function",
        "function": {"name": "lookup", "parameters": {"type": "object"}},
    }
    await gateway.openai().chat.completions.create(
        model="openai/gpt-x", messages=[{"role": "user", "content": "Hi"}], tools=[own]
    )
    assert sent_tool_names(fake_upstream, CHAT) == ["lookup", *[f"docs-{tool}" for tool in SERVER_TOOLS]]
    echo = fake_upstream.requests_to(CHAT)[-1].json["tools"][2]
    assert echo == {
        "type": "function",
        "function": {"name": "docs-echo", "description": "Say the text back.", "parameters": ECHO_SCHEMA},
    }


async def test_a_call_without_tools_of_its_own_gets_them_across_dialects(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, server: HttpServer
) -> None:
    """Anthropic client to an OpenAI provider: translated like any tool."""
    gateway = await make_gateway(mcp_config(fake_upstream, stdio_client()))
    await gateway.anthropic().messages.create(
        model="openai/gpt-x", max_tokens=16, messages=[{"role": "user", "content": "Hi"}]
    )
    assert sent_tool_names(fake_upstream, CHAT) == [f"local-{tool}" for tool in SERVER_TOOLS]


async def test_the_clients_allow_list_and_the_request_headers_filter_together(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, server: HttpServer
) -> None:
    config = mcp_config(
        fake_upstream, stdio_client(tools_to_execute=["echo", "add"]), http_client(server.url, tools_to_execute=[])
    )
    gateway = await make_gateway(config)
    cases: list[tuple[dict[str, str], list[str]]] = [
        ({}, ["local-add", "local-echo"]),  # docs allows none; local allows two
        ({"x-bf-mcp-include-clients": "docs"}, []),
        ({"x-bf-mcp-include-clients": "local, docs"}, ["local-add", "local-echo"]),
        ({"x-bf-mcp-include-tools": "local-e*"}, ["local-echo"]),
        ({"x-bf-mcp-include-tools": "local-get_weather,local-add"}, ["local-add"]),  # not allowed stays out
        ({"x-bf-mcp-include-clients": "local", "x-bf-mcp-include-tools": "*-add"}, ["local-add"]),
        ({"x-bf-mcp-include-clients": ""}, []),  # an empty value: none
        ({"x-bf-mcp-include-tools": ""}, []),
    ]
    for headers, expected in cases:
        await ask_anthropic(gateway, headers)
        assert sent_tool_names(fake_upstream) == expected, headers


async def test_a_client_tool_of_the_same_name_wins(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, server: HttpServer
) -> None:
    gateway = await make_gateway(mcp_config(fake_upstream, stdio_client()))
    mine = {"name": "local-echo", "description": "Mine.", "input_schema": {"type": "object"}}
    await ask_anthropic(gateway, tools=[mine])
    tools = fake_upstream.requests_to(MESSAGES)[-1].json["tools"]
    assert [tool["name"] for tool in tools] == ["local-echo", "local-add", "local-get_weather"]
    assert tools[0]["description"] == "Mine."


async def test_with_auto_inject_disabled_only_a_request_with_an_include_header_gets_tools(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, server: HttpServer
) -> None:
    gateway = await make_gateway(mcp_config(fake_upstream, stdio_client(), mcp_disable_auto_tool_inject=True))
    await ask_anthropic(gateway)
    assert "tools" not in fake_upstream.requests_to(MESSAGES)[-1].json
    await ask_anthropic(gateway, {"x-bf-mcp-include-clients": "local"})
    assert sent_tool_names(fake_upstream) == [f"local-{tool}" for tool in SERVER_TOOLS]


async def test_a_streamed_call_gets_them_too(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, server: HttpServer
) -> None:
    from gateway.testing import Reply, anthropic_sse

    fake_upstream.script(MESSAGES, Reply.sse(anthropic_sse("Hello")))
    gateway = await make_gateway(mcp_config(fake_upstream, http_client(server.url)))
    async with gateway.anthropic().messages.stream(
        model="anthropic/claude-x", max_tokens=16, messages=[{"role": "user", "content": "Hi"}]
    ) as stream:
        assert await stream.get_final_text() == "Hello"
    body = fake_upstream.requests_to(MESSAGES)[-1].json
    assert body["stream"] is True
    assert [tool["name"] for tool in body["tools"]] == [f"docs-{tool}" for tool in SERVER_TOOLS]
    assert json.dumps(body).count("Bearer") == 0  # the server's token is no part of what a model is sent
