"""The MCP connector's request shapes with the anthropic SDK's beta client: Anthropic's checks (400s before any
upstream call), relayed untouched to an Anthropic provider (also when the gateway's own injection changed the
tools), and served by the gateway for an OpenAI provider: the server's tools offered as ordinary tools, the
token nowhere in what the provider received."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

from gateway.api import APP_DIR
from gateway.testing import FakeUpstream, Reply, assert_anthropic_error
from tests.cli_helpers import cli_env, run_cli
from tests.conftest import MakeGateway
from tests.fakes.gemini import GEMINI_KEY, GEMINI_MODEL, gemini_response, generate_path
from tests.mcp.helpers import CHAT, MESSAGES, SERVER_TOOLS, TOKEN, HttpServer, http_server, mcp_config, stdio_client

OLD_BETA, NEW_BETA = "mcp-client-2025-04-04", "mcp-client-2025-11-20"
HI = [{"role": "user", "content": "Hi"}]


@pytest.fixture(scope="module")
def server() -> Iterator[HttpServer]:
    with http_server() as running:
        yield running


def config(fake: FakeUpstream, *clients: dict[str, Any], allowed: list[str], **mcp: Any) -> dict[str, Any]:
    built = mcp_config(fake, *clients)
    built["mcp"].update(allowed_server_urls=allowed, **mcp)
    return built


def docs(url: str, **fields: Any) -> dict[str, Any]:
    return {"type": "url", "name": "docs", "url": url, "authorization_token": TOKEN, **fields}


def refused(error: anthropic.APIStatusError, status: int, kind: str, *contains: str) -> None:
    """The SDK's error: its status, the Anthropic error type, and a message naming what was wrong."""
    assert error.status_code == status, error
    body: Any = error.body
    assert body["error"]["type"] == kind, body
    for part in contains:
        assert part in body["error"]["message"], (part, body)


async def ask(gateway: Any, model: str, betas: list[str], **fields: Any) -> Any:
    return await gateway.anthropic().beta.messages.create(
        model=model, max_tokens=16, messages=HI, betas=betas, **fields
    )


async def test_a_toolset_naming_no_server_is_refused_before_any_upstream_call(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, server: HttpServer
) -> None:
    gateway = await make_gateway(config(fake_upstream, allowed=[server.url]))
    toolset = {"type": "mcp_toolset", "mcp_server_name": "nope"}
    with pytest.raises(anthropic.BadRequestError) as caught:
        await ask(gateway, "openai/gpt-x", [NEW_BETA], mcp_servers=[docs(server.url)], tools=[toolset])
    refused(caught.value, 400, "invalid_request_error", "tools[0].mcp_server_name", "'nope'")
    assert fake_upstream.requests_to(CHAT) == [] and fake_upstream.requests_to(MESSAGES) == []


@pytest.mark.parametrize(
    ("servers", "tools", "betas", "where"),
    [
        (["docs", "docs"], [], [OLD_BETA], "mcp_servers[1].name: duplicate MCP server name 'docs'"),
        (["docs", "more"], ["docs"], [NEW_BETA], "mcp_servers[1]: MCP server 'more' is not referenced"),
        (["docs"], ["docs", "docs"], [NEW_BETA], "tools[1].mcp_server_name: MCP server 'docs' has more than one"),
        (["docs", "http://[bad/mcp"], [], [OLD_BETA], "mcp_servers[1].url: expected an http(s) URL"),
        (["docs", "http://x:port/mcp"], [], [OLD_BETA], "mcp_servers[1].url: expected an http(s) URL"),
        (["docs", "ftp://x/mcp"], [], [OLD_BETA], "mcp_servers[1].url: expected an http(s) URL"),
    ],
)
async def test_anthropics_rules_are_400s_for_every_target(
    make_gateway: MakeGateway,
    fake_upstream: FakeUpstream,
    server: HttpServer,
    servers: list[str],
    tools: list[str],
    betas: list[str],
    where: str,
) -> None:
    gateway = await make_gateway(config(fake_upstream, allowed=[server.url]))
    # a name with "/" is a server at that URL instead (named "bad")
    entries = [docs(name, name="bad") if "/" in name else docs(server.url, name=name) for name in servers]
    toolsets = [{"type": "mcp_toolset", "mcp_server_name": name} for name in tools]
    for model in ("anthropic/claude-x", "openai/gpt-x"):
        with pytest.raises(anthropic.BadRequestError) as caught:
            await ask(gateway, model, betas, mcp_servers=entries, **({"tools": toolsets} if toolsets else {}))
        refused(caught.value, 400, "invalid_request_error", where)
    assert fake_upstream.requests_to(CHAT) == [] and fake_upstream.requests_to(MESSAGES) == []


async def test_an_anthropic_provider_gets_the_servers_toolset_and_beta_untouched(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, server: HttpServer
) -> None:
    gateway = await make_gateway(config(fake_upstream, allowed=[]))
    entry = docs("https://mcp.example.com/mcp", tool_configuration={"enabled": True, "allowed_tools": ["echo"]})
    toolset = {"type": "mcp_toolset", "mcp_server_name": "docs", "default_config": {"enabled": False},
               "configs": {"echo": {"enabled": True, "defer_loading": True}}}  # fmt: skip
    await ask(gateway, "anthropic/claude-x", [NEW_BETA], mcp_servers=[entry], tools=[toolset])
    sent = fake_upstream.requests_to(MESSAGES)[-1]
    assert sent.json["mcp_servers"] == [entry]
    assert sent.json["tools"] == [toolset]
    assert NEW_BETA in sent.headers["anthropic-beta"]


async def test_with_injection_on_the_reencoded_body_still_carries_them(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, server: HttpServer
) -> None:
    gateway = await make_gateway(config(fake_upstream, stdio_client(), allowed=[]))
    entry = docs("https://mcp.example.com/mcp")
    toolset = {"type": "mcp_toolset", "mcp_server_name": "docs"}
    await ask(gateway, "anthropic/claude-x", [NEW_BETA], mcp_servers=[entry], tools=[toolset])
    sent = fake_upstream.requests_to(MESSAGES)[-1]
    assert sent.json["mcp_servers"] == [entry]
    assert sent.json["tools"][0] == toolset
    assert [tool["name"] for tool in sent.json["tools"][1:]] == [f"local-{tool}" for tool in SERVER_TOOLS]
    assert NEW_BETA in sent.headers["anthropic-beta"]


async def test_an_openai_provider_gets_the_servers_tools_and_never_the_token(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, server: HttpServer
) -> None:
    gateway = await make_gateway(config(fake_upstream, allowed=[server.url]))
    own = {"name": "lookup", "input_schema": {"type": "object"}}
    toolset = {"type": "mcp_toolset", "mcp_server_name": "docs", "configs": {"add": {"enabled": False}}}
    await ask(gateway, "openai/gpt-x", [NEW_BETA], mcp_servers=[docs(server.url)], tools=[own, toolset])
    sent = fake_upstream.requests_to(CHAT)[-1]
    names = [tool["function"]["name"] for tool in sent.json["tools"]]
    assert names == ["lookup", "mcp__docs__echo", "mcp__docs__get_weather"]
    echo = sent.json["tools"][1]["function"]
    assert echo["description"] == "Say the text back."
    assert echo["parameters"]["required"] == ["text"]
    assert "mcp_servers" not in sent.json
    assert TOKEN not in sent.body.decode() and all(TOKEN not in value for value in sent.headers.values())


async def test_tool_configuration_allowed_tools_and_enabled_filter_the_servers_tools(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, server: HttpServer
) -> None:
    gateway = await make_gateway(config(fake_upstream, allowed=[server.url]))
    first = docs(server.url, tool_configuration={"allowed_tools": ["add", "nothing"]})
    off = docs(server.url, name="off", tool_configuration={"enabled": False})
    await ask(gateway, "openai/gpt-x", [OLD_BETA], mcp_servers=[first, off])
    sent = fake_upstream.requests_to(CHAT)[-1]
    assert [tool["function"]["name"] for tool in sent.json["tools"]] == ["mcp__docs__add"]


async def test_an_anthropic_provider_set_to_gateway_gets_tools_and_no_connector_beta(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, server: HttpServer
) -> None:
    gateway = await make_gateway(config(fake_upstream, allowed=[server.url], connector={"anthropic": "gateway"}))
    toolset = {"type": "mcp_toolset", "mcp_server_name": "docs"}
    await ask(gateway, "anthropic/claude-x", [NEW_BETA, "files-api-2025-04-14"], mcp_servers=[docs(server.url)],
              tools=[toolset])  # fmt: skip
    sent = fake_upstream.requests_to(MESSAGES)[-1]
    assert [tool["name"] for tool in sent.json["tools"]] == [f"mcp__docs__{tool}" for tool in SERVER_TOOLS]
    assert "mcp_servers" not in sent.json
    assert sent.headers["anthropic-beta"] == "files-api-2025-04-14"
    assert TOKEN not in sent.body.decode()


def test_passthrough_for_a_provider_that_cannot_take_it_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    providers = {"openai": {"keys": [{"value": "sk-test-0123456789abcdef"}]}, "mock": {}}
    mcp = {"connector": {"openai": "passthrough", "ghost": "gateway"}, "allowed_server_urls": ["ftp://x"]}
    path.write_text(json.dumps({"providers": providers, "mcp": mcp}))
    result = run_cli("check-config", str(path), env=cli_env())
    lines = (result.stderr + result.stdout).splitlines()
    assert result.returncode == 1
    assert any(line.startswith("$.mcp.connector.openai: a openai provider cannot take") for line in lines), lines
    assert any(line.startswith("$.mcp.connector.ghost: no provider is named 'ghost'") for line in lines), lines
    assert any(line.startswith("$.mcp.allowed_server_urls[0]: expected an http") for line in lines), lines


async def test_a_tool_without_a_name_is_still_refused_unless_it_is_a_toolset(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    gateway = await make_gateway(config(fake_upstream, allowed=[]))
    async with gateway.http() as http:
        answer = await http.post(
            "/anthropic/v1/messages",
            {"model": "anthropic/claude-x", "max_tokens": 16, "messages": HI,
             "tools": [{"name": "ok", "input_schema": {"type": "object"}}, {"input_schema": {"type": "object"}}]},
        )  # fmt: skip
    assert_anthropic_error(answer, 400, "invalid_request_error", "tools[1].name: Field required")
    assert fake_upstream.requests_to(MESSAGES) == []


async def test_a_gemini_provider_gets_the_servers_tools_as_function_declarations(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, server: HttpServer
) -> None:
    built = config(fake_upstream, allowed=[server.url])
    built["providers"]["gemini"] = {"keys": [{"value": GEMINI_KEY}], "network_config": {"base_url": fake_upstream.url}}
    fake_upstream.default(generate_path(), Reply.json(gemini_response("Hello")))
    gateway = await make_gateway(built)
    toolset = {"type": "mcp_toolset", "mcp_server_name": "docs", "configs": {"add": {"enabled": False}}}
    await ask(gateway, f"gemini/{GEMINI_MODEL}", [NEW_BETA], mcp_servers=[docs(server.url)], tools=[toolset])
    sent = fake_upstream.requests_to(generate_path())[-1]
    declared = [tool["name"] for tool in sent.json["tools"][0]["functionDeclarations"]]
    assert declared == ["mcp__docs__echo", "mcp__docs__get_weather"]
    assert TOKEN not in sent.body.decode()


async def test_an_async_job_carrying_a_server_token_is_refused_so_the_token_is_never_stored(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, server: HttpServer
) -> None:
    gateway = await make_gateway(config(fake_upstream, allowed=[server.url]))
    with pytest.raises(anthropic.BadRequestError) as caught:
        await ask(
            gateway, "openai/gpt-x", [OLD_BETA], mcp_servers=[docs(server.url)], extra_headers={"x-bf-async": "true"}
        )
    refused(caught.value, 400, "invalid_request_error", "async job", "without x-bf-async")
    assert TOKEN not in json.dumps(caught.value.body)
    stored = stored_bytes(gateway.app[APP_DIR])
    assert stored and all(TOKEN.encode() not in data for data in stored)


def stored_bytes(app_dir: Path) -> list[bytes]:
    """Every database file of the gateway's app dir (the jobs store and its WAL included)."""
    return [path.read_bytes() for path in Path(app_dir).glob("*.db*")]
