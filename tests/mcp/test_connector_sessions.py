"""The connector's request-scoped sessions against real MCP servers (tests/mcp/server.py): the bearer token is
required and a wrong one is refused with an error naming the server (the token in no answer, log or upstream
request); a server on the older HTTP+SSE transport is reached by the fallback; one that is down is a clear
error. `Servers.run` (what the agent loop calls) never raises for a tool's failure."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from gateway.testing import FakeUpstream
from gateway_plugins.mcp.connector_sessions import Options, Server, Servers
from tests.conftest import MakeGateway
from tests.mcp.helpers import (
    CHAT,
    TOKEN,
    HttpServer,
    connector_config,
    free_port,
    http_server,
    server_entry,
)

BETA = "mcp-client-2025-04-04"
WRONG = "wrong-token-fedcba9876543210"


@pytest.fixture(scope="module")
def server() -> Iterator[HttpServer]:
    with http_server() as running:
        yield running


@pytest.fixture(scope="module")
def more_tools() -> Iterator[HttpServer]:
    """A server with the slow and the failing tool too."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MCP_TEST_MORE_TOOLS", "1")
        with http_server() as running:
            yield running


def gateway_logs(caplog: pytest.LogCaptureFixture) -> str:
    """What the gateway and the libraries it uses logged (not the test's own SDK client, which logs its request)."""
    return "\n".join(record.getMessage() for record in caplog.records if not record.name.startswith("anthropic"))


async def ask(make_gateway: MakeGateway, fake: FakeUpstream, url: str, token: str) -> Any:
    gateway = await make_gateway(connector_config(fake, [url]))
    return await gateway.anthropic().beta.messages.create(
        model="openai/gpt-x", max_tokens=16, messages=[{"role": "user", "content": "Hi"}], betas=[BETA],
        mcp_servers=[server_entry(url, token)],
    )  # fmt: skip


async def test_a_wrong_token_is_refused_naming_the_server_and_shown_nowhere(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, server: HttpServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(anthropic.BadRequestError) as caught:
        await ask(make_gateway, fake_upstream, server.url, WRONG)
    body: Any = caught.value.body
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"] == "mcp server docs refused the authorization token (HTTP 401)"
    assert fake_upstream.requests_to(CHAT) == []
    assert WRONG not in gateway_logs(caplog)


async def test_the_right_token_lists_and_nothing_logs_it(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, server: HttpServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await ask(make_gateway, fake_upstream, server.url, TOKEN)
    assert len(fake_upstream.requests_to(CHAT)[-1].json["tools"]) == 3
    assert TOKEN not in gateway_logs(caplog)


async def test_a_server_on_the_older_sse_transport_is_reached_by_the_fallback(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    with http_server(transport="sse") as sse:
        await ask(make_gateway, fake_upstream, sse.url, TOKEN)
        with pytest.raises(anthropic.BadRequestError) as caught:
            await ask(make_gateway, fake_upstream, sse.url, WRONG)
    names = [tool["function"]["name"] for tool in fake_upstream.requests_to(CHAT)[-1].json["tools"]]
    assert names == ["mcp__docs__add", "mcp__docs__echo", "mcp__docs__get_weather"]
    assert "refused the authorization token" in str(caught.value)


async def test_a_server_that_is_down_is_a_clear_error_naming_it(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    url = f"http://127.0.0.1:{free_port()}/mcp"
    with pytest.raises(anthropic.APIStatusError) as caught:
        await ask(make_gateway, fake_upstream, url, TOKEN)
    assert caught.value.status_code == 502
    body: Any = caught.value.body
    assert body["error"]["message"] == "mcp server docs could not be reached (ConnectError)"
    assert fake_upstream.requests_to(CHAT) == []


async def listed(url: str, name: str = "docs") -> Servers:
    server = Server(name=name, url=url, token=TOKEN)
    return await Servers.connect([server], Options(allowed_server_urls=(url,), connect_timeout=5))


async def test_run_answers_a_tools_result_and_every_failure_as_an_error_outcome(more_tools: HttpServer) -> None:
    async with Servers.open([Server(name="docs", url=more_tools.url, token=TOKEN)],
                            Options(allowed_server_urls=(more_tools.url,), connect_timeout=5)) as servers:  # fmt: skip
        assert servers.server_of("mcp__docs__slow") == ("docs", "slow") and servers.server_of("docs-slow") is None
        done = await servers.run("mcp__docs__add", {"a": 2, "b": 3})
        assert (done.texts, done.is_error) == (("5",), False)
        failed = await servers.run("mcp__docs__fail", {"message": "no luck"})
        assert failed.is_error and failed.texts == ("Error executing tool fail: no luck",)
        slow = await servers.run("mcp__docs__slow", {"seconds": 5}, timeout=0.5)
        assert slow.is_error and slow.texts == ("the tool did not answer within 0.5s",)
        bad = await servers.run("mcp__docs__add", {"a": "two"})
        assert bad.is_error
        unknown = await servers.run("mcp__docs__nothing", {})
        assert unknown.is_error and unknown.texts == ("no MCP tool is named 'mcp__docs__nothing'",)


async def test_run_on_a_server_that_went_away_is_an_error_outcome() -> None:
    with http_server() as going:
        servers = await listed(going.url)
    gone = await servers.run("mcp__docs__echo", {"text": "hi"}, timeout=5)
    assert gone.is_error and gone.texts[0].startswith("mcp server docs failed to run echo (")
