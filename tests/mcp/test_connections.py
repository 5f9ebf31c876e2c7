"""The configured MCP servers' life: one that is down at start-up (or refuses the token) does not stop the
gateway, is logged as disconnected without its secrets, and its tools arrive once it is up; a server that stops
takes its tools away and gives them back when it restarts."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from gateway.testing import FakeUpstream
from tests.conftest import Gateway, MakeGateway
from tests.mcp.helpers import (
    SERVER_TOOLS,
    TOKEN,
    HttpServer,
    http_client,
    http_server,
    mcp_config,
    sent_tool_names,
    stdio_client,
)
from tests.mcp.test_injection import ask_anthropic

DOCS = [f"docs-{tool}" for tool in SERVER_TOOLS]
LOCAL = [f"local-{tool}" for tool in SERVER_TOOLS]
WAIT_S = 15.0


async def tools_within(gateway: Gateway, fake: FakeUpstream, expected: list[str], seconds: float = WAIT_S) -> None:
    """Ask until the upstream is sent `expected` tools (bounded: fails after `seconds`)."""
    deadline = time.monotonic() + seconds
    while True:
        await ask_anthropic(gateway)
        if sent_tool_names(fake) == expected:
            return
        assert time.monotonic() < deadline, f"still {sent_tool_names(fake)} after {seconds}s, not {expected}"
        await asyncio.sleep(0.1)


async def test_a_server_down_at_start_up_is_retried_and_its_tools_arrive_when_it_comes_up(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "gateway.mcp")
    later = HttpServer()
    started = time.monotonic()
    gateway = await make_gateway(mcp_config(fake_upstream, http_client(later.url)))
    assert time.monotonic() - started < 5  # a refused connection fails fast: start-up does not wait it out
    await ask_anthropic(gateway)
    assert sent_tool_names(fake_upstream) == []  # the gateway serves without the server's tools
    assert "mcp client docs is disconnected" in caplog.text
    later.start()
    try:
        await tools_within(gateway, fake_upstream, DOCS)
        assert "mcp client docs connected (3 tools)" in caplog.text
    finally:
        later.stop()
    await tools_within(gateway, fake_upstream, [])  # stopped: the health check drops its tools
    later.start()  # restarted on the same port
    try:
        await tools_within(gateway, fake_upstream, DOCS)
    finally:
        later.stop()


async def test_a_refused_token_leaves_that_server_disconnected_and_out_of_the_logs(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-bearer-token-fedcba9876543210"
    with http_server() as server:
        config = mcp_config(fake_upstream, http_client(server.url, "docs", wrong), http_client(server.url, "good"))
        gateway = await make_gateway(config)
        await ask_anthropic(gateway)
        assert sent_tool_names(fake_upstream) == [f"good-{tool}" for tool in SERVER_TOOLS]
    assert "mcp client docs is disconnected" in caplog.text
    assert wrong not in caplog.text
    assert TOKEN not in caplog.text


async def test_a_token_in_the_servers_url_stays_out_of_the_debug_log(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # the SDK logs the URL it connects to at debug level
    in_url = "url-borne-api-key-0123456789abcdef"
    with http_server() as server:
        gateway = await make_gateway(mcp_config(fake_upstream, http_client(f"{server.url}?api_key={in_url}")))
        await ask_anthropic(gateway)
    assert sent_tool_names(fake_upstream) == DOCS
    assert f"127.0.0.1:{server.port}/mcp" in caplog.text  # the URL was logged ...
    assert in_url not in caplog.text  # ... with its token masked


async def test_a_stdio_server_that_crashes_is_started_again(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "gateway.mcp")
    crashing = stdio_client()
    crashing["stdio_config"]["envs"]["MCP_TEST_EXIT_AFTER"] = "3"  # each process lives 3 s
    gateway = await make_gateway(mcp_config(fake_upstream, crashing))
    await ask_anthropic(gateway)
    assert sent_tool_names(fake_upstream) == LOCAL
    deadline = time.monotonic() + WAIT_S
    while caplog.text.count("mcp client local connected") < 2:  # the first process died, a second one serves
        assert time.monotonic() < deadline, caplog.text
        await asyncio.sleep(0.1)
    assert "mcp client local is disconnected" in caplog.text


async def test_a_server_on_the_older_sse_transport_offers_its_tools(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    with http_server(transport="sse") as server:
        client = http_client(server.url, "legacy", connection_type="sse")
        gateway = await make_gateway(mcp_config(fake_upstream, client))
        await ask_anthropic(gateway)
    assert sent_tool_names(fake_upstream) == [f"legacy-{tool}" for tool in SERVER_TOOLS]


async def test_a_stdio_server_that_cannot_start_is_reported_and_the_gateway_serves(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "gateway.mcp")
    broken = {
        "name": "broken",
        "connection_type": "stdio",
        "stdio_config": {"command": "/nonexistent/mcp-server-binary"},
    }
    gateway = await make_gateway(mcp_config(fake_upstream, broken))
    await ask_anthropic(gateway)
    assert sent_tool_names(fake_upstream) == []
    assert "mcp client broken is disconnected" in caplog.text


async def test_a_server_that_never_answers_delays_start_up_by_connect_timeout_at_most(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    """A server that accepts connections and then says nothing (hung): start-up waits `connect_timeout`, the
    gateway serves, and the server is reported."""
    caplog.set_level(logging.INFO, "gateway.mcp")
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # read nothing, answer nothing

    silent = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        config = mcp_config(fake_upstream, http_client(f"http://127.0.0.1:{port}/mcp", "hung"))
        config["mcp"]["connect_timeout"] = 1
        started = time.monotonic()
        gateway = await make_gateway(config)
        assert time.monotonic() - started < 4
        await ask_anthropic(gateway)
        assert sent_tool_names(fake_upstream) == []
        # Either the wait for it or the SDK's own timeout for the same second gives up first.
        assert "mcp client hung is disconnected (" in caplog.text
    finally:
        for writer in held:
            writer.close()
        silent.close()
