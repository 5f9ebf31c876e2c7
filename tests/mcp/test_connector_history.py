"""A conversation that goes on carries the earlier rounds' mcp_tool_use / mcp_tool_result blocks: for a provider
the gateway serves the connector for, they become ordinary tool turns (the assistant message split around them);
an Anthropic provider that runs the servers itself gets them as they were."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gateway.testing import FakeUpstream
from tests.conftest import MakeGateway
from tests.mcp.helpers import CHAT, MESSAGES, HttpServer, connector_config, http_server, server_entry

BETA = "mcp-client-2025-04-04"
EARLIER: list[Any] = [
    {"role": "user", "content": "Weather in Paris, and echo hi?"},
    {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Let me look."},
            {"type": "mcp_tool_use", "id": "mcptoolu_1", "name": "get_weather", "server_name": "docs",
             "input": {"city": "Paris"}},
            {"type": "mcp_tool_use", "id": "mcptoolu_2", "name": "echo", "server_name": "docs",
             "input": {"text": "hi"}},
            {"type": "mcp_tool_result", "tool_use_id": "mcptoolu_1", "is_error": False,
             "content": [{"type": "text", "text": "sunny in Paris"}]},
            {"type": "mcp_tool_result", "tool_use_id": "mcptoolu_2", "is_error": True, "content": "no luck"},
            {"type": "text", "text": "Sunny; the echo failed."},
            {"type": "mcp_tool_use", "id": "mcptoolu_3", "name": "add", "server_name": "docs",
             "input": {"a": 1, "b": 2}},
            {"type": "mcp_tool_result", "tool_use_id": "mcptoolu_3", "content": [{"type": "text", "text": "3"}]},
        ],
    },
    {"role": "user", "content": "Thanks!"},
]  # fmt: skip


@pytest.fixture(scope="module")
def server() -> Iterator[HttpServer]:
    with http_server() as running:
        yield running


async def ask(make_gateway: MakeGateway, fake: FakeUpstream, model: str, url: str) -> None:
    gateway = await make_gateway(connector_config(fake, [url]))
    await gateway.anthropic().beta.messages.create(
        model=model, max_tokens=16, messages=EARLIER, betas=[BETA], mcp_servers=[server_entry(url)]
    )


async def test_an_openai_provider_gets_them_as_ordinary_tool_turns(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, server: HttpServer
) -> None:
    await ask(make_gateway, fake_upstream, "openai/gpt-x", server.url)
    messages = fake_upstream.requests_to(CHAT)[-1].json["messages"]

    def call(id_: str, name: str, arguments: str) -> dict[str, Any]:
        return {"id": id_, "type": "function", "function": {"name": name, "arguments": arguments}}

    assert messages == [
        {"role": "user", "content": "Weather in Paris, and echo hi?"},
        {"role": "assistant", "content": "Let me look.", "tool_calls": [
            call("mcptoolu_1", "mcp__docs__get_weather", '{"city":"Paris"}'),
            call("mcptoolu_2", "mcp__docs__echo", '{"text":"hi"}'),
        ]},
        {"role": "tool", "tool_call_id": "mcptoolu_1", "content": "sunny in Paris"},
        {"role": "tool", "tool_call_id": "mcptoolu_2", "content": "Error: no luck"},  # is_error, as OpenAI shows it
        {"role": "assistant", "content": "Sunny; the echo failed.", "tool_calls": [
            call("mcptoolu_3", "mcp__docs__add", '{"a":1,"b":2}'),
        ]},
        {"role": "tool", "tool_call_id": "mcptoolu_3", "content": "3"},
        {"role": "user", "content": "Thanks!"},
    ]  # fmt: skip


async def test_an_anthropic_provider_that_runs_the_servers_gets_them_as_they_were(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, server: HttpServer
) -> None:
    await ask(make_gateway, fake_upstream, "anthropic/claude-x", server.url)
    assert fake_upstream.requests_to(MESSAGES)[-1].json["messages"] == EARLIER
