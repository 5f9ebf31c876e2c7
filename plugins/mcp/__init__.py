"""MCP (`mcp`, Bifrost's section): the gateway connects to the configured MCP servers and offers their tools to
every model, whatever its provider. See the README's "MCP tools".

Configured by the top-level `mcp` section; with no `client_configs` it starts nothing and registers no request
hook, so it costs nothing per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl, urlsplit

from aiohttp import web

from gateway import hookimpl
from gateway.api import REDACTOR, ConfigRegistry, add_hooks, plugin_config, remove_hooks

from . import endpoint
from .config import McpClientConfig, McpConfig
from .connections import Connection
from .execute import add_route
from .inject import Injector

SECTION = "mcp"
HOOKS_NAME = "mcp.inject"
CONNECTIONS = web.AppKey("mcp_connections", tuple[Connection, ...])
ENDPOINT = web.AppKey("mcp_endpoint", endpoint.Endpoint)


@hookimpl
def gw_register_config(registry: ConfigRegistry) -> None:
    registry.add_section(SECTION, McpConfig)


@hookimpl
def gw_register_routes(app: web.Application) -> None:
    add_route(app, CONNECTIONS)
    endpoint.add_route(app, ENDPOINT)


@hookimpl
def gw_lifespan(app: web.Application) -> contextlib.AbstractAsyncContextManager[None]:
    return _running(app)


@contextlib.asynccontextmanager
async def _running(app: web.Application) -> AsyncIterator[None]:
    async with endpoint.serving(app, ENDPOINT, lambda: app.get(CONNECTIONS, ())), _connected(app):
        yield


@contextlib.asynccontextmanager
async def _connected(app: web.Application) -> AsyncIterator[None]:
    config = plugin_config(app, McpConfig)
    if not config.client_configs:
        yield
        return
    for client in config.client_configs:
        app[REDACTOR].add(*_secrets(client))
    quiet = logging.getLogger("httpx2")  # the MCP SDK's HTTP client, which logs every request (health checks)
    if quiet.level == logging.NOTSET:
        quiet.setLevel(logging.WARNING)
    connections = tuple(Connection(client, config) for client in config.client_configs)
    app[CONNECTIONS] = connections
    tasks = [asyncio.create_task(c.supervise(), name=f"mcp:{c.config.name}") for c in connections]
    # The first attempts run together, so that tools are there for the first request; a server that is down
    # or slow delays start-up by connect_timeout at most, and is then retried in the background.
    waits = [asyncio.create_task(c.tried.wait()) for c in connections]
    await asyncio.wait(waits, timeout=config.connect_timeout + 1)
    for wait in waits:
        wait.cancel()
    add_hooks(app, Injector(connections), HOOKS_NAME)
    try:
        yield
    finally:
        remove_hooks(app, HOOKS_NAME)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _secrets(client: McpClientConfig) -> list[str]:
    """What the logs must never show: header and env values, and a URL's password and query values (a token in
    the URL; the SDK logs URLs at debug level)."""
    found = list(client.headers.values())
    if client.stdio_config is not None and isinstance(client.stdio_config.envs, dict):
        found += client.stdio_config.envs.values()
    if client.connection_string:
        url = urlsplit(client.connection_string)
        found += [value for _, value in parse_qsl(url.query)]
        if url.password:
            found.append(url.password)
    return found
