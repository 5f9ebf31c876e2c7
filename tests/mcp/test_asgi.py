"""The ASGI bridge under `/mcp` (plugins/mcp/asgi.py), on its own: a toy ASGI app behind a route of a running
gateway gets the request (a body of many chunks, the headers, the gateway's scope keys) and its answer reaches the
client, streamed pieces included; after the exchange the app hears a disconnect, not silence."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

from aiohttp import web

from gateway import hookimpl
from gateway.testing import FakeUpstream
from gateway_plugins.mcp import asgi
from tests.conftest import MakeGateway, upstream_config

BODY = bytes(range(256)) * 1024  # 256 KiB: more than one chunk


class ToyRoute:
    def __init__(self) -> None:
        self.after: list[str] = []

    @hookimpl
    def gw_register_routes(self, app: web.Application) -> None:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await asgi.serve(self.app, request, {"gateway.extra": "from the gateway"})

        app.router.add_post("/toy-asgi", handle)
        app.router.add_get("/toy-asgi-silent", handle)

    async def app(self, scope: MutableMapping[str, Any], receive: asgi.Receive, send: asgi.Send) -> None:
        if scope["path"] == "/toy-asgi-silent":
            return  # answers nothing: the bridge says so (an error), it does not hang
        body, pieces = b"", 0
        while True:
            message = await receive()
            body, pieces = body + message["body"], pieces + 1
            if not message["more_body"]:
                break
        headers = dict(scope["headers"])
        start = {
            "type": "http.response.start",
            "status": 201,
            "headers": [(b"x-extra", scope["gateway.extra"].encode())],
        }
        await send(start)
        for piece in (b"first,", b"second,"):
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        summary = f"{len(body)},{body == BODY},{pieces > 1},{headers[b'x-toy'].decode()},{scope['method']}"
        await send({"type": "http.response.body", "body": summary.encode(), "more_body": False})
        self.after.append((await asyncio.wait_for(receive(), 5))["type"])


async def test_a_request_and_a_streamed_answer_cross_the_bridge(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    route = ToyRoute()
    gateway = await make_gateway(upstream_config(fake_upstream.url), [route])
    async with gateway.http() as http:
        answer = await http.post("/toy-asgi", BODY, {"x-toy": "yes", "Content-Type": "application/octet-stream"})
        assert answer.status == 201, answer
        assert answer.headers["x-extra"] == "from the gateway"
        assert answer.body == f"first,second,{len(BODY)},True,True,yes,POST".encode()
        for _ in range(200):  # the app goes on listening just after its answer went out
            if route.after:
                break
            await asyncio.sleep(0.01)
        assert route.after == ["http.disconnect"]
        silent = await http.get("/toy-asgi-silent")
    assert silent.status == 500 and "gave no answer" in silent.body.decode()
