"""The MCP connector's request shapes (Anthropic's `mcp_servers` and `mcp_toolset` tools): the checks Anthropic
makes before it calls a model, and the servers they describe.

Every check fails with a 400 `invalid_request_error` before any upstream call, whatever the target: a request
that Anthropic would refuse is refused the same way when another provider serves it.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl, urlsplit

import httpx2
from msgspec import UnsetType

from gateway.api import InvalidRequest, anthropic

from .connector_sessions import Server

BETAS = ("mcp-client-2025-04-04", "mcp-client-2025-11-20")
TOOLSET_BETA = "mcp-client-2025-11-20"  # servers are configured by mcp_toolset tools, each referenced by one
TOOLSET = "mcp_toolset"
MCP_BLOCKS = frozenset({"mcp_tool_use", "mcp_tool_result"})


def betas(headers: Mapping[str, str]) -> list[str]:
    """The MCP connector betas the request's `anthropic-beta` header names."""
    named = {beta.strip() for beta in headers.get("anthropic-beta", "").split(",")}
    return [beta for beta in BETAS if beta in named]


def uses_connector(request: anthropic.MessagesRequest) -> bool:
    return not isinstance(request.mcp_servers, UnsetType) or bool(toolsets(request))


def toolsets(request: anthropic.MessagesRequest) -> list[anthropic.Tool]:
    tools = request.tools if isinstance(request.tools, list) else []
    return [tool for tool in tools if tool.type == TOOLSET]


def check(request: anthropic.MessagesRequest, headers: Mapping[str, str]) -> None:
    """Anthropic's rules: every server once, of type url with a url; every toolset names a server, once; with
    the 2025-11-20 beta every server is referenced by a toolset."""
    servers = request.mcp_servers if isinstance(request.mcp_servers, list) else []
    names: dict[str, int] = {}
    for index, server in enumerate(servers):
        where = f"mcp_servers[{index}]"
        if server.type != "url":
            raise InvalidRequest(f"{where}.type: expected 'url', not {server.type!r}", param=f"{where}.type")
        if not server.name:
            raise InvalidRequest(f"{where}.name: a server needs a name", param=f"{where}.name")
        if server.name in names:
            raise InvalidRequest(f"{where}.name: duplicate MCP server name {server.name!r}", param=f"{where}.name")
        if not _is_http_url(server.url):
            raise InvalidRequest(f"{where}.url: expected an http(s) URL", param=f"{where}.url")
        names[server.name] = index
    referenced: set[str] = set()
    tools = request.tools if isinstance(request.tools, list) else []
    for index, tool in enumerate(tools):
        if tool.type != TOOLSET:
            continue
        where = f"tools[{index}].mcp_server_name"
        name = tool.mcp_server_name
        if isinstance(name, UnsetType) or name not in names:
            raise InvalidRequest(f"{where}: no mcp_servers entry is named {name or ''!r}", param=where)
        if name in referenced:
            raise InvalidRequest(f"{where}: MCP server {name!r} has more than one mcp_toolset", param=where)
        referenced.add(name)
    if TOOLSET_BETA in betas(headers):
        for name, index in names.items():
            if name not in referenced:
                where = f"mcp_servers[{index}]"
                raise InvalidRequest(f"{where}: MCP server {name!r} is not referenced by an mcp_toolset", param=where)


def servers(request: anthropic.MessagesRequest) -> list[Server]:
    """The servers of a checked request, with the tools each one offers (tool_configuration; the toolset's
    default_config and configs, `enabled` only: the gateway has no deferred loading)."""
    by_server = {tool.mcp_server_name: tool for tool in toolsets(request)}
    found: list[Server] = []
    for entry in request.mcp_servers if isinstance(request.mcp_servers, list) else []:
        token = entry.authorization_token if isinstance(entry.authorization_token, str) else None
        enabled, only, per_tool = True, None, {}
        configuration = entry.tool_configuration
        if isinstance(configuration, anthropic.McpToolConfiguration):
            enabled = configuration.enabled is not False
            if isinstance(configuration.allowed_tools, list):
                only = frozenset(configuration.allowed_tools)
        toolset = by_server.get(entry.name)
        if toolset is not None:
            if isinstance(toolset.default_config, anthropic.McpToolConfig):
                enabled = enabled and toolset.default_config.enabled is not False
            if isinstance(toolset.configs, dict):
                per_tool = {
                    tool: config.enabled for tool, config in toolset.configs.items() if isinstance(config.enabled, bool)
                }
        found.append(Server(name=entry.name, url=entry.url, token=token, enabled=enabled, only=only, per_tool=per_tool))
    return found


def tokens(request: anthropic.MessagesRequest) -> list[str]:
    """The request's secrets the logs must never show: each server's authorization token, and a password or
    query value in its URL (a token some servers take there)."""
    found: list[str] = []
    for entry in request.mcp_servers if isinstance(request.mcp_servers, list) else []:
        if isinstance(entry.authorization_token, str):
            found.append(entry.authorization_token)
        url = urlsplit(entry.url)  # checked by `check` before
        found += [value for _, value in parse_qsl(url.query)]
        if url.password:
            found.append(url.password)
    return found


def _is_http_url(url: str) -> bool:
    """What the SDK's HTTP client and `tokens` can take: an http(s) URL with a host (the SSRF rule comes later)."""
    try:
        parsed = httpx2.URL(url)
        _ = urlsplit(url).port  # a port that is no number raises here
    except (httpx2.InvalidURL, ValueError):
        return False
    return parsed.scheme in ("http", "https") and bool(parsed.host)
