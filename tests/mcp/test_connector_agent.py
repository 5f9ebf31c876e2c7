"""The connector with the agent loop: for an OpenAI provider the gateway runs the model's calls to a request's own
MCP server and answers exactly as Anthropic does: mcp_tool_use / mcp_tool_result blocks, then the final text,
stream and not, parsed by the anthropic SDK with strict validation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from anthropic.types.beta import BetaRequestMCPServerURLDefinitionParam

from gateway.testing import FakeUpstream, Reply
from gateway.testing.wire import ToolUse, openai_completion, openai_sse
from tests.conftest import MakeGateway
from tests.fakes.gemini import GEMINI_KEY, GEMINI_MODEL, call_part, gemini_response, generate_path
from tests.mcp.helpers import CHAT, TOKEN, HttpServer, http_server, mcp_config

BETA = "mcp-client-2025-04-04"


@pytest.fixture(scope="module")
def server() -> Iterator[HttpServer]:
    with http_server() as running:
        yield running


async def gateway_for(make_gateway: MakeGateway, fake: FakeUpstream, url: str) -> Any:
    config = mcp_config(fake)
    config["mcp"]["allowed_server_urls"] = [url]
    return await make_gateway(config)


def entry(url: str) -> BetaRequestMCPServerURLDefinitionParam:
    return {"type": "url", "name": "docs", "url": url, "authorization_token": TOKEN}


CALL = ToolUse(id="call_1", name="mcp__docs__echo", input={"text": "hi"})


async def test_a_complete_answer(make_gateway: MakeGateway, fake_upstream: FakeUpstream, server: HttpServer) -> None:
    gateway = await gateway_for(make_gateway, fake_upstream, server.url)
    fake_upstream.script(
        CHAT,
        Reply.json(openai_completion(None, tool_calls=[CALL], finish_reason="tool_calls")),
        Reply.json(openai_completion("It said hi.")),
    )
    client = gateway.anthropic(_strict_response_validation=True)
    message = await client.beta.messages.create(
        model="openai/gpt-x", max_tokens=64, messages=[{"role": "user", "content": "Echo hi"}], betas=[BETA],
        mcp_servers=[entry(server.url)],
    )  # fmt: skip
    kinds = [block.type for block in message.content]
    assert kinds == ["mcp_tool_use", "mcp_tool_result", "text"], message
    use, result, text = message.content
    assert use.type == "mcp_tool_use" and (use.name, use.server_name, use.input) == ("echo", "docs", {"text": "hi"})
    assert result.type == "mcp_tool_result" and result.tool_use_id == use.id and result.is_error is False
    assert not isinstance(result.content, str) and result.content[0].text == "hi"
    assert text.type == "text" and text.text == "It said hi."
    second = fake_upstream.requests_to(CHAT)[-1].json["messages"]
    assert second[-1] == {"role": "tool", "tool_call_id": "call_1", "content": "hi"}
    assert all(TOKEN not in request.body.decode() for request in fake_upstream.requests_to(CHAT))


async def test_a_stream(make_gateway: MakeGateway, fake_upstream: FakeUpstream, server: HttpServer) -> None:
    gateway = await gateway_for(make_gateway, fake_upstream, server.url)
    fake_upstream.script(
        CHAT,
        Reply.sse(openai_sse((), tool_calls=[CALL], finish_reason="tool_calls")),
        Reply.sse(openai_sse(("It said ", "hi."))),
    )
    client = gateway.anthropic(_strict_response_validation=True)
    async with client.beta.messages.stream(
        model="openai/gpt-x", max_tokens=64, messages=[{"role": "user", "content": "Echo hi"}], betas=[BETA],
        mcp_servers=[entry(server.url)],
    ) as stream:  # fmt: skip
        message = await stream.get_final_message()
    assert [block.type for block in message.content] == ["mcp_tool_use", "mcp_tool_result", "text"], message
    assert message.content[2].type == "text" and message.content[2].text == "It said hi."


async def test_a_gemini_model_whose_tool_fails_hears_of_it_and_the_client_sees_is_error(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, server: HttpServer
) -> None:
    config = mcp_config(fake_upstream)
    config["mcp"]["allowed_server_urls"] = [server.url]
    config["providers"]["gemini"] = {"keys": [{"value": GEMINI_KEY}], "network_config": {"base_url": fake_upstream.url}}
    gateway = await make_gateway(config)
    fake_upstream.script(
        generate_path(),
        Reply.json(gemini_response(None, parts=[call_part("mcp__docs__add", {"a": "two"})], finish="STOP")),
        Reply.json(gemini_response("Could not add.")),
    )
    client = gateway.anthropic(_strict_response_validation=True)
    message = await client.beta.messages.create(
        model=f"gemini/{GEMINI_MODEL}", max_tokens=64, messages=[{"role": "user", "content": "Add"}], betas=[BETA],
        mcp_servers=[entry(server.url)],
    )  # fmt: skip
    assert [block.type for block in message.content] == ["mcp_tool_use", "mcp_tool_result", "text"], message
    result = message.content[1]
    assert result.type == "mcp_tool_result" and result.is_error is True
    assert message.content[0].type == "mcp_tool_use" and message.content[0].name == "add"
