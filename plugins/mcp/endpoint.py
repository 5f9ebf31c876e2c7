"""`/mcp`: the gateway is itself an MCP server (streamable HTTP), exposing the tools of its configured MCP clients.

Served by the `mcp` package's server role (its low-level `Server` behind `StreamableHTTPSessionManager`, reached
through asgi.py), stateless and answering JSON, so that any gateway process can answer any request and no session
outlives its request. Each HTTP request is authenticated as an inference call is (`start_call`: the key in
`Authorization: Bearer`, `x-api-key` or `x-bf-vk`, or what another gw_authenticate accepts) before the SDK sees
it; the caller's context rides in the ASGI scope to the handlers. A caller lists only the tools it may use
(access.py), and a call runs through execute.py's `run_tool`: admitted by governance, recorded by observers.

Errors, as MCP wants them: a tool the caller may not use or that does not exist is a JSON-RPC error (invalid
params, as for an unknown tool); a refusal by governance (rate limit) a JSON-RPC error too; a tool that fails to run
(timeout, its server down or failing) an `isError` result, which a model can read and recover from.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import msgspec
from aiohttp import web
from mcp import types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, ErrorData, JSONRPCError

from gateway import CallContext, GatewayError
from gateway.api import REDACTOR, VERSION, start_call

from . import asgi
from .access import access_of, allowed_tools
from .connections import Connection
from .execute import run_tool

log = logging.getLogger("gateway.mcp")
ROUTE = "/mcp"
CALL = "gateway.call"  # the ASGI scope key of the caller's CallContext
SERVER_NAME = "llm-gateway"
INVALID = frozenset({400, 403, 404})  # the call itself is wrong for this caller: no tool ran
_SCHEMA = msgspec.json.Decoder(dict[str, Any])
Connections = Callable[[], Sequence[Connection]]


class Endpoint:
    """The MCP server of one app. Its session manager starts with the first `/mcp` request (a gateway whose
    `/mcp` nobody uses runs nothing for it) and stops with the app."""

    def __init__(self, connections: Connections) -> None:
        self._connections = connections
        self._lock = asyncio.Lock()
        self._manager: StreamableHTTPSessionManager | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            ctx = await start_call(request, "")  # 401 / 403 before the protocol is even looked at
        except GatewayError as exc:
            return _refusal(request.app[REDACTOR].error(exc))
        manager = await self._started()
        return await asgi.serve(manager.handle_request, request, {CALL: ctx})

    async def _started(self) -> StreamableHTTPSessionManager:
        async with self._lock:
            if self._manager is None:
                manager = StreamableHTTPSessionManager(self._server(), json_response=True, stateless=True)
                ready = asyncio.Event()
                task = self._task = asyncio.create_task(self._run(manager, ready), name="mcp:endpoint")
                waiter = asyncio.create_task(ready.wait())
                await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                if not ready.is_set():  # it failed to start: an error for this request, another try for the next
                    (failure,) = await asyncio.gather(task, return_exceptions=True)
                    log.error("the MCP server of /mcp failed to start: %r", failure)
                    raise GatewayError("the gateway's MCP server failed to start")
                self._manager = manager
            return self._manager

    async def _run(self, manager: StreamableHTTPSessionManager, ready: asyncio.Event) -> None:
        """The manager's task group lives in one task of its own (anyio's scopes end in the task they began in)."""
        async with manager.run():
            ready.set()
            await self._stop.wait()

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    def _server(self) -> Server[Any]:
        return Server(SERVER_NAME, version=VERSION, on_list_tools=self._list_tools, on_call_tool=self._call_tool)

    async def _list_tools(
        self, request: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        ctx = _caller(request)
        tools = allowed_tools(self._connections(), access_of(ctx.headers, ctx.principal))
        return types.ListToolsResult(
            tools=[
                types.Tool(name=t.name, description=t.description or None, input_schema=_SCHEMA.decode(t.input_schema))
                for t in tools
            ]
        )

    async def _call_tool(
        self, request: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        ctx = _caller(request)
        try:
            return await run_tool(self._connections(), params.name, dict(params.arguments or {}), ctx, "mcp")
        except GatewayError as exc:
            shown = ctx.app[REDACTOR].error(exc)
            if shown.status in INVALID:
                raise MCPError(INVALID_PARAMS, shown.message) from None
            if shown.status < 500:  # refused (a rate limit): the caller's, not the tool's, so no result
                raise MCPError(INVALID_REQUEST, shown.message, {"status": shown.status, "type": shown.kind}) from None
            return types.CallToolResult(content=[types.TextContent(type="text", text=shown.message)], is_error=True)


def _refusal(error: GatewayError) -> web.Response:
    """An HTTP refusal (no key, a bad or disabled one) with a JSON-RPC error body: MCP clients surface its message
    (for any other body they make up their own) and `data` says what the gateway said."""
    data = {"status": error.status, "type": error.kind}
    body = JSONRPCError(jsonrpc="2.0", id=None, error=ErrorData(code=INVALID_REQUEST, message=error.message, data=data))
    return web.Response(
        status=error.status,
        body=body.model_dump_json(by_alias=True, exclude_unset=True),
        content_type="application/json",
    )


def _caller(request: ServerRequestContext[Any]) -> CallContext:
    """The context `Endpoint.handle` authenticated, from the ASGI scope of the HTTP request the message came in."""
    http = request.request
    ctx = http.scope.get(CALL) if http is not None else None
    if not isinstance(ctx, CallContext):  # only a request that came through Endpoint.handle reaches the server
        raise MCPError(INTERNAL_ERROR, "the request did not come through the gateway's /mcp route")
    return ctx


def add_route(app: web.Application, key: web.AppKey[Endpoint]) -> None:
    async def handle(request: web.Request) -> web.StreamResponse:
        return await request.app[key].handle(request)

    for method in ("POST", "GET", "DELETE"):  # what the transport defines (GET and DELETE answer 405: stateless)
        app.router.add_route(method, ROUTE, handle)


@contextlib.asynccontextmanager
async def serving(app: web.Application, key: web.AppKey[Endpoint], connections: Connections) -> AsyncIterator[None]:
    endpoint = app[key] = Endpoint(connections)
    try:
        yield
    finally:
        await endpoint.close()
