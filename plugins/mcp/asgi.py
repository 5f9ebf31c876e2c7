"""One aiohttp request served by an ASGI app: how `/mcp` reaches the `mcp` package's streamable HTTP server.

The SDK's server transport is ASGI (Starlette); the gateway is aiohttp. Rather than a second web server on another
port, or the protocol written again by hand, each request is handed to the SDK's ASGI app with a scope built from
the aiohttp request: the body is streamed in as `http.request` messages, and `http.response.*` messages become an
aiohttp StreamResponse (a JSON answer or an event stream alike). What the gateway already decided about the call
(its context) travels in the scope under keys of the gateway's own (`extra`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from gateway import GatewayError

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]
CHUNK = 65_536


async def serve(app: AsgiApp, request: web.Request, extra: dict[str, Any]) -> web.StreamResponse:
    """Run `app` for `request`; its answer as an aiohttp response (already sent when it streamed)."""
    response: web.StreamResponse | None = None
    body_read = False
    finished = asyncio.Event()

    async def receive() -> Message:
        nonlocal body_read
        if not body_read:
            chunk = await request.content.read(CHUNK)
            body_read = request.content.at_eof()
            return {"type": "http.request", "body": chunk, "more_body": not body_read}
        await finished.wait()  # an app listening for a disconnect hears it once the exchange is over
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal response
        if message["type"] == "http.response.start":
            headers = CIMultiDict((k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", ()))
            response = web.StreamResponse(status=message["status"], headers=headers)
        elif message["type"] == "http.response.body":
            if response is None:
                raise RuntimeError("an ASGI app sent a body before its status")
            if not response.prepared:
                await response.prepare(request)
            if body := message.get("body"):
                await response.write(body)
            if not message.get("more_body", False):
                await response.write_eof()
                finished.set()  # the exchange is over: an app still listening hears the disconnect

    try:
        await app(_scope(request, extra), receive, send)
    finally:
        finished.set()
    if response is None:
        raise GatewayError("the MCP server gave no answer")
    return response


def _scope(request: web.Request, extra: dict[str, Any]) -> dict[str, Any]:
    host = request.transport.get_extra_info("sockname") if request.transport else None
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": f"{request.version.major}.{request.version.minor}",
        "method": request.method,
        "scheme": request.scheme,
        "path": request.path,
        "raw_path": request.raw_path.split("?", 1)[0].encode("latin-1"),
        "query_string": request.query_string.encode("latin-1"),
        "root_path": "",
        "headers": [(name.lower(), value) for name, value in request.raw_headers],
        "client": (request.remote or "", 0),
        "server": tuple(host[:2]) if isinstance(host, tuple) else None,
        "state": {},
        **extra,
    }
