"""Bifrost's per-provider network settings through real requests (the OpenAI SDK against a fake upstream):
proxy_config (an HTTP proxy with credentials, the environment's proxy), retry_backoff_*_ms and Go durations,
max_conns_per_host, keep_alive_timeout_in_seconds (against a bare aiohttp upstream that sees client ports), and
key aliases."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from gateway.testing import FakeUpstream, Reply, openai_body, openai_completion
from tests.conftest import MakeGateway, upstream_config
from tests.http.governance_helpers import CHAT, UP_CHAT, X_CHAT

PROXY_USER, PROXY_PASSWORD = "proxy-user", "proxy-password-for-tests-0123"
HEAD_LIMIT = 64 * 1024


class ForwardProxy:
    """A tiny HTTP forward proxy on 127.0.0.1 (absolute-form requests, no CONNECT): it records each request head
    it relays and passes the exchange on to the origin untouched."""

    def __init__(self) -> None:
        self.heads: list[str] = []
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n"))[:HEAD_LIMIT].decode("latin-1")
            self.heads.append(head)
            target = head.split(" ", 2)[1]  # http://host:port/path
            host_port = target.split("/", 3)[2]
            host, port = host_port.rsplit(":", 1)
            length = next(
                (
                    int(line.split(":", 1)[1])
                    for line in head.split("\r\n")
                    if line.lower().startswith("content-length:")
                ),
                0,
            )
            body = await reader.readexactly(length)
            origin_reader, origin_writer = await asyncio.open_connection(host, int(port))
            path = "/" + target.split("/", 3)[3]
            lines = head.split("\r\n")
            kept = [ln for ln in lines[1:] if ln and not ln.lower().startswith(("proxy-", "connection:"))]
            origin_writer.write(f"{lines[0].split(' ')[0]} {path} HTTP/1.1\r\n".encode())
            origin_writer.write(("\r\n".join([*kept, "Connection: close"]) + "\r\n\r\n").encode("latin-1") + body)
            await origin_writer.drain()
            answer = await origin_reader.read()
            origin_writer.close()
            writer.write(answer)
            await writer.drain()
        finally:
            writer.close()

    async def __aenter__(self) -> ForwardProxy:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


@pytest.fixture
async def proxy() -> AsyncIterator[ForwardProxy]:
    async with ForwardProxy() as running:
        yield running


def openai_only(url: str, **provider: Any) -> dict[str, Any]:
    """The kit's config (openai and anthropic on the fake upstream) with these fields on the openai provider."""
    config = upstream_config(url)
    config["providers"]["openai"] |= provider
    return config


async def chat_once(gw: Any, model: str = "openai/gpt-x") -> str:
    async with gw.openai() as client:
        reply = await client.chat.completions.create(model=model, messages=X_CHAT, max_tokens=8)
    return str(reply.choices[0].message.content)


async def raw_chat(gw: Any) -> str:
    """The kit's raw client, which ignores HTTP_PROXY (the SDK would send its own call through the proxy)."""
    async with gw.http() as http:
        answer = await http.post(CHAT, openai_body("openai/gpt-x", max_tokens=8))
    assert answer.status == 200, answer
    return str(answer.json()["choices"][0]["message"]["content"])


async def test_http_proxy_relays_the_upstream_calls_with_its_credentials(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, proxy: ForwardProxy
) -> None:
    fake_upstream.default(UP_CHAT, Reply.json(openai_completion("via proxy")))
    proxy_config = {"type": "http", "url": proxy.url, "username": PROXY_USER, "password": PROXY_PASSWORD}
    gw = await make_gateway(openai_only(fake_upstream.url, proxy_config=proxy_config))
    assert await chat_once(gw) == "via proxy"
    assert len(proxy.heads) == 1 and len(fake_upstream.requests) == 1
    request_line, *headers = proxy.heads[0].split("\r\n")
    assert request_line.startswith(f"POST {fake_upstream.url}/v1/chat/completions ")
    credentials = base64.b64encode(f"{PROXY_USER}:{PROXY_PASSWORD}".encode()).decode()
    assert f"proxy-authorization: basic {credentials}".lower() in (h.lower() for h in headers)
    assert "proxy-authorization" not in {k.lower() for k in fake_upstream.requests[0].headers}


async def test_environment_proxy_is_read_from_http_proxy(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_upstream.default(UP_CHAT, Reply.json(openai_completion("via env proxy")))
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    gw = await make_gateway(openai_only(fake_upstream.url, proxy_config={"type": "environment"}))
    assert await raw_chat(gw) == "via env proxy"
    assert len(proxy.heads) == 1


async def test_no_proxy_type_goes_direct_even_with_http_proxy_set(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_upstream.default(UP_CHAT, Reply.json(openai_completion("direct")))
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    gw = await make_gateway(openai_only(fake_upstream.url, proxy_config={"type": "none"}))
    assert await raw_chat(gw) == "direct"
    assert proxy.heads == []


@pytest.mark.parametrize(
    "backoff",
    [
        pytest.param({"retry_backoff_initial_ms": 400}, id="initial_ms"),
        pytest.param({"retry_backoff_initial": "400ms"}, id="go-duration"),
        pytest.param({"retry_backoff_initial": "0.4s", "retry_backoff_max": "1s"}, id="go-seconds"),
    ],
)
async def test_retry_waits_the_configured_backoff(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, backoff: dict[str, Any]
) -> None:
    fake_upstream.script(UP_CHAT, Reply.json({"error": {"message": "boom", "type": "server_error"}}, status=500))
    fake_upstream.default(UP_CHAT, Reply.json(openai_completion("second try")))
    config = upstream_config(fake_upstream.url)
    config["providers"]["openai"]["network_config"] |= {"max_retries": 1, **backoff}
    gw = await make_gateway(config)
    started = time.monotonic()
    assert await chat_once(gw) == "second try"
    assert time.monotonic() - started >= 0.4 * 0.8  # the backoff, less its jitter
    assert len(fake_upstream.requests) == 2


async def test_retry_backoff_max_ms_caps_the_wait(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(UP_CHAT, Reply.json({"error": {"message": "boom", "type": "server_error"}}, status=500))
    fake_upstream.default(UP_CHAT, Reply.json(openai_completion("capped")))
    config = upstream_config(fake_upstream.url)
    network = {"max_retries": 1, "retry_backoff_initial_ms": 5000, "retry_backoff_max_ms": 50}
    config["providers"]["openai"]["network_config"] |= network
    gw = await make_gateway(config)
    started = time.monotonic()
    assert await chat_once(gw) == "capped"
    assert time.monotonic() - started < 5 * 0.8  # not the initial 5 s: the 50 ms cap


async def test_max_conns_per_host_queues_calls_beyond_it(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default(UP_CHAT, Reply.json(openai_completion("slow"), delay=0.3))
    config = upstream_config(fake_upstream.url)
    config["providers"]["openai"]["network_config"]["max_conns_per_host"] = 1
    gw = await make_gateway(config)
    started = time.monotonic()
    assert list(await asyncio.gather(chat_once(gw), chat_once(gw))) == ["slow", "slow"]
    assert time.monotonic() - started >= 2 * 0.3  # one connection: the second call waited for the first


async def test_key_alias_sends_the_aliased_model_upstream(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default(UP_CHAT, Reply.json(openai_completion("aliased")))
    config = upstream_config(fake_upstream.url)
    config["providers"]["openai"]["keys"][0]["aliases"] = {
        "fast": "gpt-4o-mini-2024-07-18",
        "smart": {"model_name": "gpt-4o-2024-11-20", "model_family": "gpt-4o"},
    }
    gw = await make_gateway(config)
    assert await chat_once(gw, "openai/fast") == "aliased"
    assert await chat_once(gw, "openai/smart") == "aliased"
    assert await chat_once(gw, "openai/other") == "aliased"
    sent = [r.json["model"] for r in fake_upstream.requests]
    assert sent == ["gpt-4o-mini-2024-07-18", "gpt-4o-2024-11-20", "other"]


@pytest.mark.parametrize(("keep_alive", "connections"), [(0.2, 2), (30, 1)])
async def test_keep_alive_timeout_closes_idle_upstream_connections(
    make_gateway: MakeGateway, keep_alive: float, connections: int
) -> None:
    """An upstream that notes the client port of each call: after an idle pause longer than
    keep_alive_timeout_in_seconds the next call comes on a new connection."""
    ports: list[int] = []

    async def completions(request: web.Request) -> web.Response:
        ports.append(request.transport.get_extra_info("peername")[1] if request.transport else 0)
        return web.json_response(openai_completion("hi"))

    app = web.Application()
    app.router.add_post(UP_CHAT, completions)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        config = upstream_config(url)
        config["providers"]["openai"]["network_config"]["keep_alive_timeout_in_seconds"] = keep_alive
        gw = await make_gateway(config)
        assert await chat_once(gw) == "hi"
        await asyncio.sleep(0.6)
        assert await chat_once(gw) == "hi"
    finally:
        await runner.cleanup()
    assert len(ports) == 2 and len(set(ports)) == connections
