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
from .agent import Agent
from .config import McpClientConfig, McpConfig
from .connections import Connection
from .connector import Connector
from .execute import add_route
from .inject import Injector

SECTION = "mcp"
HOOKS_NAME = "mcp.inject"
AGENT_HOOKS = "mcp.agent"
CONNECTOR_HOOKS_NAME = "mcp.connector"
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
    # A request may bring its own servers (mcp_servers) whatever the config: the connector and the agent loop
    # that runs their tools are always there; the injector only with configured clients.
    add_hooks(app, Connector(config), CONNECTOR_HOOKS_NAME)
    connections, tasks = await _connect(app, config) if config.client_configs else ((), [])
    if connections:
        add_hooks(app, Injector(connections), HOOKS_NAME)
    add_hooks(app, Agent(connections, config), AGENT_HOOKS)
    try:
        yield
    finally:
        for name in (AGENT_HOOKS, HOOKS_NAME, CONNECTOR_HOOKS_NAME):
            remove_hooks(app, name)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _connect(app: web.Application, config: McpConfig) -> tuple[tuple[Connection, ...], list[asyncio.Task[None]]]:
    """Start a supervisor per configured server; return once each has connected or failed once."""
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
    return connections, tasks


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
