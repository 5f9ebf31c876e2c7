"""A real MCP server (the `mcp` package's MCPServer) for the tests, run as a subprocess:

    python -m tests.mcp.server stdio
    python -m tests.mcp.server http PORT [TOKEN]    # streamable HTTP on 127.0.0.1:PORT/mcp; TOKEN: required bearer
    python -m tests.mcp.server sse PORT [TOKEN]     # the older HTTP+SSE transport on 127.0.0.1:PORT/sse

Its tools: `echo(text)`, `add(a, b)` and `get_weather(city, unit)`; with MCP_TEST_MORE_TOOLS=1 in its environment
also `slow(seconds)` and `fail(message)`. With MCP_TEST_EXIT_AFTER=SECONDS the process exits that long after it
starts (a server that crashes).
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any, Literal

import anyio
import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

SERVER = MCPServer("gateway-tests")


@SERVER.tool()
def echo(text: str) -> str:
    """Say the text back."""
    return text


@SERVER.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@SERVER.tool()
def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> str:
    """The weather in a city."""
    return f"sunny in {city}, 21 degrees {unit}"


if os.environ.get("MCP_TEST_MORE_TOOLS"):  # a slow tool and a failing one, only where a test asks for them

    @SERVER.tool()
    async def slow(seconds: float) -> str:
        """Answer after a while."""
        await anyio.sleep(seconds)
        return "done"

    @SERVER.tool()
    def fail(message: str) -> str:
        """Fail with the message (a ToolError's message reaches the client; another error's does not)."""
        raise ToolError(message)


def bearer_required(app: Any, token: str) -> Any:
    """An ASGI app that refuses an HTTP request without `Authorization: Bearer <token>` (401)."""
    expected = f"Bearer {token}".encode()

    async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and dict(scope["headers"]).get(b"authorization") != expected:
            await send({"type": "http.response.start", "status": 401, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"unauthorized"})
            return
        await app(scope, receive, send)

    return guarded


def serve_http(transport: str, port: int, token: str | None) -> None:
    app = SERVER.sse_app(host="127.0.0.1") if transport == "sse" else SERVER.streamable_http_app(host="127.0.0.1")
    guarded = bearer_required(app, token) if token else app
    config = uvicorn.Config(guarded, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    anyio.run(uvicorn.Server(config).serve)


if __name__ == "__main__":
    if "MCP_TEST_EXIT_AFTER" in os.environ:
        threading.Timer(float(os.environ["MCP_TEST_EXIT_AFTER"]), os._exit, (3,)).start()
    if sys.argv[1] == "stdio":
        SERVER.run("stdio")
    else:
        serve_http(sys.argv[1], int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None)
