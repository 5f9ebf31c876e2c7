"""Connections to the configured MCP servers, with the official `mcp` package's client.

One supervisor task per server keeps it connected: it connects, lists the tools, re-lists them every interval
(the listing is also the health check: protocol 2026-07-28 has no ping), and on any failure drops the connection
and tries again with a growing delay. A server that is down never stops the gateway: it is logged as
disconnected, offers no tools, and its tools come back when it does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx2
import msgspec
from mcp import Client, StdioServerParameters, types
from mcp.client.sse import sse_client
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from .config import McpClientConfig, McpConfig

log = logging.getLogger("gateway.mcp")
INITIAL_BACKOFF_S = 0.5
MAX_PAGES = 100  # a server whose listing never ends cannot hold a connection attempt (or a request) forever
# What every provider accepts as a tool name (OpenAI's is the narrowest: 64 characters of these).
TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class McpTool(msgspec.Struct, frozen=True, kw_only=True):
    """One tool of one server, as offered to models."""

    name: str  # `{client}-{tool}`
    client: str
    tool: str  # the server's own name for it
    description: str
    input_schema: bytes  # JSON Schema, as the server listed it


class Connection:
    """One configured server: its supervisor task, its state, and its tools (empty while disconnected)."""

    def __init__(self, config: McpClientConfig, section: McpConfig) -> None:
        self.config = config
        self.section = section
        self.tools: tuple[McpTool, ...] = ()
        self.connected = False
        self.client: Client | None = None  # the live session, for calls (None while disconnected)
        self.tried = asyncio.Event()  # set once the first attempt succeeded or failed

    @property
    def interval(self) -> float:
        sync = self.config.tool_sync_interval or self.section.tool_sync_interval
        health = self.section.health_check_interval
        return min(sync, health) if health > 0 else sync

    async def supervise(self) -> None:
        """Keep the server connected until cancelled (at shutdown)."""
        delay = INITIAL_BACKOFF_S
        while True:
            ready = asyncio.Event()
            attempt = asyncio.create_task(self._attempt(ready), name=f"mcp:{self.config.name}")
            try:
                failure = await self._until_ready(attempt, ready)
                if failure is None:  # connected: it runs until it fails
                    delay = INITIAL_BACKOFF_S
                    failure = _describe(await _outcome(attempt))
            finally:
                attempt.cancel()
                await asyncio.gather(attempt, return_exceptions=True)
            self._set_tools(())
            self.tried.set()
            # Once per outage at warning level; the retries of a server that stays down only at debug level.
            report = log.debug if delay > INITIAL_BACKOFF_S else log.warning
            report("mcp client %s is disconnected (%s); retrying in %.1fs", self.config.name, failure, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.section.reconnect_backoff_max)

    async def _until_ready(self, attempt: asyncio.Task[None], ready: asyncio.Event) -> str | None:
        """None once connected; else why the attempt failed (an error, or no answer within connect_timeout)."""
        waiter = asyncio.create_task(ready.wait())
        try:
            await asyncio.wait({attempt, waiter}, timeout=self.section.connect_timeout, return_when="FIRST_COMPLETED")
        finally:
            waiter.cancel()
        if ready.is_set():
            return None
        if not attempt.done():
            return f"no answer within {self.section.connect_timeout:g}s"
        return _describe(await _outcome(attempt))

    async def _attempt(self, ready: asyncio.Event) -> None:
        async with contextlib.AsyncExitStack() as stack:
            transport = _transport(self.config, self.section)
            client = await stack.enter_async_context(
                Client(transport, read_timeout_seconds=self.section.connect_timeout, cache=None)
            )
            self._set_tools(await _listing(client, self.config))
            self.client, self.connected = client, True
            try:
                log.info("mcp client %s connected (%d tools)", self.config.name, len(self.tools))
                ready.set()
                self.tried.set()
                while True:
                    await asyncio.sleep(self.interval)
                    self._set_tools(await _listing(client, self.config))
            finally:
                self.client, self.connected = None, False

    def _set_tools(self, tools: tuple[McpTool, ...]) -> None:
        if tools != self.tools:  # an unchanged listing keeps the tuple, so the injector's cache stays valid
            self.tools = tools


async def _outcome(task: asyncio.Task[None]) -> BaseException | None:
    try:
        await task
    except asyncio.CancelledError:
        raise
    except BaseException as exc:  # the connection's end, whatever ended it: reported, then retried
        return exc
    return None


def _describe(exc: BaseException | None) -> str:
    """The error's kind and its first leaf's kind (anyio wraps a transport's errors in groups). Not the message:
    it may quote a URL or a header the server echoed."""
    if exc is None:
        return "the connection ended"
    leaf = exc
    while isinstance(leaf, BaseExceptionGroup) and leaf.exceptions:
        leaf = leaf.exceptions[0]
    if isinstance(leaf, httpx2.HTTPStatusError):
        return f"HTTP {leaf.response.status_code}"
    return type(leaf).__name__ if leaf is exc else f"{type(exc).__name__}: {type(leaf).__name__}"


async def list_all(client: Client) -> list[types.Tool]:
    """Every tool a server lists, page after page (at most MAX_PAGES)."""
    found: list[types.Tool] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        page = await client.list_tools(cursor=cursor)
        found += page.tools
        cursor = page.next_cursor
        if cursor is None:
            break
    return found


async def _listing(client: Client, config: McpClientConfig) -> tuple[McpTool, ...]:
    """Every tool the server lists that the config allows, sorted by name."""
    found: dict[str, McpTool] = {}
    for tool in await list_all(client):
        if not config.allows(tool.name):
            continue
        name = f"{config.name}-{tool.name}"
        if not TOOL_NAME.match(name):
            log.warning("mcp client %s: tool %r skipped (%s is no valid tool name)", config.name, tool.name, name)
            continue
        schema = msgspec.json.encode(tool.input_schema or {"type": "object"})
        found[name] = McpTool(
            name=name, client=config.name, tool=tool.name, description=tool.description or "", input_schema=schema
        )
    return tuple(found[name] for name in sorted(found))


@contextlib.asynccontextmanager
async def _transport(config: McpClientConfig, section: McpConfig) -> AsyncIterator[Any]:
    """The `mcp` package's transport for the configured connection type."""
    if config.connection_type == "stdio":
        assert config.stdio_config is not None  # the config checks it
        stdio = config.stdio_config
        params = StdioServerParameters(command=stdio.command, args=list(stdio.args), env=_environment(stdio.envs))
        async with stdio_client(params) as streams:
            yield streams
        return
    assert config.connection_string is not None
    if config.connection_type == "sse":
        # The event stream may be quiet for long: each request's own timeout bounds the wait for its answer.
        async with sse_client(
            config.connection_string,
            headers=dict(config.headers),
            timeout=section.connect_timeout,
            sse_read_timeout=86_400.0,
        ) as streams:
            yield streams
        return
    timeout = httpx2.Timeout(section.connect_timeout, read=None)  # a tool call's own timeout bounds reads
    async with (
        create_mcp_http_client(headers=dict(config.headers), timeout=timeout) as http,
        streamable_http_client(config.connection_string, http_client=http) as streams,
    ):
        yield streams


def _environment(envs: Sequence[str] | dict[str, str]) -> dict[str, str]:
    if isinstance(envs, dict):
        return dict(envs)
    return {name: os.environ[name] for name in envs if name in os.environ}
