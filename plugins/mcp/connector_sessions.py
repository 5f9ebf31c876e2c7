"""Request-scoped MCP sessions: the servers of one request's `mcp_servers`, their tools, and calls to them.

Each operation (the listing when the request comes in, then each tool call) opens its own short session: a
fresh HTTP client through the SSRF guard, streamable HTTP or (for a server that does not speak it) the older
HTTP+SSE transport, with the request's bearer token. Protocol 2026-07-28 is stateless, so nothing is lost
between calls, and no session outlives the coroutine that opened it: nothing to close, whatever way the
request ends (anyio's cancel scopes must be left by the task that entered them, which a hook that opens a
session and an observer that would close it could not promise).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Literal

import httpx2
import msgspec
from mcp import Client, types
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from gateway.api import GatewayError, InvalidRequest, anthropic

from .connections import list_all
from .connector_ssrf import GuardedTransport, Refused
from .rounds import Outcome, outcome_of

Transport = Literal["http", "sse"]
_INVALID = re.compile(r"[^A-Za-z0-9_-]")
_ENCODER = msgspec.json.Encoder()
# Statuses that mean the server refused the token (no point trying the other transport with it).
_REFUSED_TOKEN = (401, 403)


class Server(msgspec.Struct, frozen=True, kw_only=True):
    """One `mcp_servers[]` entry as the gateway uses it. `token` is a secret: never logged or echoed."""

    name: str
    url: str
    token: str | None = None
    # Which of its tools the request offers (tool_configuration, or the mcp_toolset naming it).
    enabled: bool = True  # for a tool `per_tool` does not name
    only: frozenset[str] | None = None  # tool_configuration.allowed_tools
    per_tool: dict[str, bool] = msgspec.field(default_factory=dict)  # the toolset's configs[tool].enabled

    def allows(self, tool: str) -> bool:
        if self.only is not None and tool not in self.only:
            return False
        return self.per_tool.get(tool, self.enabled)


class ServerTool(msgspec.Struct, frozen=True, kw_only=True):
    offered: str  # the name the model sees
    server: str
    tool: str
    wire: anthropic.Tool


class Options(msgspec.Struct, frozen=True, kw_only=True):
    allowed_server_urls: tuple[str, ...] = ()
    connect_timeout: float = 10.0
    tool_timeout: float = 30.0  # a tool call's, unless `run` is given one (tool_manager_config's)
    taken: frozenset[str] = frozenset()  # tool names the request already has (its own, injected ones)


class Servers:
    """The servers of one request, listed: `tools` to offer the model, `run` to call one of them."""

    def __init__(self, servers: Sequence[Server], transports: Mapping[str, Transport], tools: Sequence[ServerTool],
                 options: Options) -> None:  # fmt: skip
        self._servers = {server.name: server for server in servers}
        self._transports = dict(transports)
        self._by_name = {tool.offered: tool for tool in tools}
        self.options = options
        self.tools = [tool.wire for tool in tools]

    @classmethod
    async def connect(cls, servers: Sequence[Server], options: Options) -> Servers:
        """List every server's tools (all at once); a server that is refused, unreachable or refuses the token
        fails the request with an error naming it."""
        try:  # a task group: the first server that fails stops the others' attempts (one error is enough)
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(_list(server, options)) for server in servers]
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None  # a GatewayError naming its server (_list raises nothing else)
        listings = [task.result() for task in tasks]
        transports = {server.name: transport for server, (transport, _) in zip(servers, listings, strict=True)}
        taken = set(options.taken)
        tools = [
            _offered(server.name, tool, taken)
            for server, (_, listed) in zip(servers, listings, strict=True)
            for tool in sorted(listed, key=lambda tool: tool.name)
            if server.allows(tool.name)
        ]
        return cls(servers, transports, tools, options)

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, servers: Sequence[Server], options: Options) -> AsyncIterator[Servers]:
        """`connect` as a context manager (each call opens its own session: there is nothing to close)."""
        yield await cls.connect(servers, options)

    def server_of(self, name: str) -> tuple[str, str] | None:
        """(server name, the server's own tool name) of a tool offered as `name`; None for any other name. With
        `run`, the agent loop's `Tools` protocol (plugins/mcp/rounds.py)."""
        tool = self._by_name.get(name)
        return None if tool is None else (tool.server, tool.tool)

    async def run(self, name: str, arguments: Mapping[str, Any], timeout: float | None = None) -> Outcome:
        """Call the tool offered as `name`; never raises for the tool's failure (an unknown tool, a timeout, an
        error result, a server gone): that is an is_error outcome whose text says what happened."""
        tool = self._by_name.get(name)
        if tool is None:
            return Outcome(texts=(f"no MCP tool is named {name!r}",), is_error=True)
        server = self._servers[tool.server]
        timeout = timeout or self.options.tool_timeout
        guard = GuardedTransport(self.options.allowed_server_urls, server.url)
        try:
            async with asyncio.timeout(timeout):
                async with _client(server, self._transports[server.name], guard, self.options) as client:
                    result = await client.call_tool(tool.tool, dict(arguments))
        except TimeoutError:
            return Outcome(texts=(f"the tool did not answer within {timeout:g}s",), is_error=True)
        except Exception as exc:  # the server or its connection failed: named by kind only (the text may hold secrets)
            reason = f"mcp server {server.name} failed to run {tool.tool} ({_kind(exc, guard)})"
            return Outcome(texts=(reason,), is_error=True)
        return outcome_of(result)


async def _list(server: Server, options: Options) -> tuple[Transport, list[types.Tool]]:
    """The server's tools and the transport that reached it: streamable HTTP, else the older HTTP+SSE."""
    first: tuple[BaseException, GuardedTransport] | None = None
    for transport in ("http", "sse"):
        guard = GuardedTransport(options.allowed_server_urls, server.url)
        try:
            async with asyncio.timeout(options.connect_timeout):
                async with _client(server, transport, guard, options) as client:
                    return transport, await list_all(client)
        except Exception as exc:
            if guard.refused is not None:
                raise InvalidRequest(f"mcp_servers: {server.name}: url refused: {guard.refused}") from None
            first = first or (exc, guard)
            if guard.status in _REFUSED_TOKEN:
                break
    assert first is not None
    raise _open_error(server, *first)


def _open_error(server: Server, exc: BaseException, guard: GuardedTransport) -> GatewayError:
    if guard.status in _REFUSED_TOKEN:
        return InvalidRequest(
            f"mcp server {server.name} refused the authorization token (HTTP {guard.status})", param="mcp_servers"
        )
    if isinstance(exc, TimeoutError):
        return GatewayError(f"mcp server {server.name} did not answer in time", status=504, kind="timeout_error")
    return GatewayError(f"mcp server {server.name} could not be reached ({_kind(exc, guard)})", status=502)


@contextlib.asynccontextmanager
async def _client(
    server: Server, transport: Transport, guard: GuardedTransport, options: Options
) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {server.token}"} if server.token else {}
    # The read timeout is the caller's (a tool call's own); connecting is bounded here.
    timeout = httpx2.Timeout(options.connect_timeout, read=None)

    def http_client(headers: dict[str, str] | None = None, timeout: httpx2.Timeout | None = None,
                    auth: httpx2.Auth | None = None) -> httpx2.AsyncClient:  # fmt: skip
        return httpx2.AsyncClient(headers=headers, timeout=timeout, transport=guard, trust_env=False)

    if transport == "sse":
        streams: Any = sse_client(
            server.url, headers=headers, timeout=options.connect_timeout, sse_read_timeout=86_400.0,
            httpx_client_factory=http_client,
        )  # fmt: skip
        async with Client(streams, cache=None) as client:
            yield client
        return
    async with (
        http_client(headers, timeout) as http,
        Client(streamable_http_client(server.url, http_client=http), cache=None) as client,
    ):
        yield client


def offered_name(server: str, tool: str) -> str:
    """A server's tool as the model sees it: `mcp__{server}__{tool}`, a name every provider takes (64 letters,
    digits, `_` and `-`), and never a configured client's `{client}-{tool}` (it has no hyphen of its own)."""
    return _INVALID.sub("_", f"mcp__{server}__{tool}")[:64]


def _offered(server: str, tool: types.Tool, taken: set[str]) -> ServerTool:
    """The tool as the model sees it (`offered_name`), made unique in the call."""
    base = offered_name(server, tool.name)
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base[: 64 - len(str(n)) - 1]}_{n}"
    taken.add(name)
    schema = msgspec.Raw(_ENCODER.encode(tool.input_schema or {"type": "object"}))
    wire = anthropic.Tool(name=name, description=tool.description or msgspec.UNSET, input_schema=schema)
    return ServerTool(offered=name, server=server, tool=tool.name, wire=wire)


def _kind(exc: BaseException, guard: GuardedTransport) -> str:
    """What failed, without the exception's text (a server may echo the token back in it)."""
    if guard.status is not None:
        return f"HTTP {guard.status}"
    leaf = exc
    while isinstance(leaf, BaseExceptionGroup) and leaf.exceptions:
        leaf = leaf.exceptions[0]
    if isinstance(leaf, Refused):
        return f"refused: {leaf}"
    return type(leaf).__name__
