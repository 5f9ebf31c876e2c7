"""The MCP connector for every provider: a request's `mcp_servers` (Anthropic's beta) served by the gateway.

To a provider on the Anthropic wire the servers are relayed untouched by default (`mcp.connector` "passthrough":
Anthropic connects to them). For every other provider (and Anthropic set to "gateway") the gateway connects to
them itself (`connector_sessions`, through the SSRF rule of `connector_ssrf`), offers their tools to the model
as ordinary tools, and rewrites the conversation's earlier MCP blocks into ordinary turns (`connector_history`).
The agent loop runs the calls the model makes to those tools: `servers(ctx)` gives it the request's servers.
"""

from __future__ import annotations

from typing import Literal

from msgspec import UNSET
from msgspec.structs import replace

from gateway import CallContext, ChatCall, hookimpl
from gateway.api import REDACTOR, Dialect, Settings, Target

from . import connector_history, connector_rules
from .config import McpConfig
from .connector_sessions import Options, Servers

Mode = Literal["passthrough", "gateway"]


class ConnectorState:
    """Per call (`ctx.state`): the request's servers, once listed for a target the gateway serves them for."""

    def __init__(self) -> None:
        self.servers: Servers | None = None
        self.active = False  # the gateway runs them for the target being tried (a fallback may relay them)


def servers(ctx: CallContext) -> Servers | None:
    """The servers the gateway runs for the attempt being made (None: no `mcp_servers`, or relayed to it)."""
    state = ctx.state(ConnectorState)
    return state.servers if state.active else None


def mode(config: McpConfig, target: Target, wire: Dialect | None) -> Mode:
    """Passthrough only to a provider on the Anthropic wire (the config check refuses it for any other)."""
    if wire != "anthropic":
        return "gateway"
    return config.connector.get(target.provider, "passthrough")


def connector_errors(config: McpConfig, settings: Settings) -> list[str]:
    errors: list[str] = []
    for name, chosen in config.connector.items():
        where = f"$.mcp.connector.{name}"
        if name not in settings.providers:
            errors.append(f"{where}: no provider is named {name!r}")
        elif chosen == "passthrough" and settings.provider_kind(name) != "anthropic":
            kind = settings.provider_kind(name)
            errors.append(f'{where}: a {kind} provider cannot take Anthropic\'s mcp_servers; use "gateway"')
    for index, url in enumerate(config.allowed_server_urls):
        if not url.startswith(("http://", "https://")):
            errors.append(f"$.mcp.allowed_server_urls[{index}]: expected an http:// or https:// URL or prefix")
    return errors


class Connector:
    """The connector's hooks, registered whatever the config: a request brings its own servers."""

    def __init__(self, config: McpConfig) -> None:
        self.config = config

    @hookimpl
    def gw_prepare_tools(self, call: ChatCall, ctx: CallContext) -> None:
        """Check the request as Anthropic would, before any upstream call, and hide its tokens from the logs."""
        request = call.request
        if isinstance(request.mcp_servers, list) or connector_rules.toolsets(request):
            connector_rules.check(request, ctx.headers)
            ctx.app[REDACTOR].add_transient(*connector_rules.tokens(request))

    @hookimpl(tryfirst=True)  # before the agent loop's (it runs these servers) and the plugins adapting tools
    async def gw_transform_request(self, call: ChatCall, ctx: CallContext) -> ChatCall | None:
        request = call.request
        if not connector_rules.uses_connector(request):
            return None
        assert call.target is not None
        state = ctx.state(ConnectorState)
        state.active = mode(self.config, call.target, ctx.wire_dialect(call.target)) == "gateway"
        if not state.active:
            return None
        if state.servers is None:  # once per call: a fallback target reuses the listing
            own = request.tools if isinstance(request.tools, list) else []
            options = Options(
                allowed_server_urls=tuple(self.config.allowed_server_urls),
                connect_timeout=self.config.connect_timeout,
                tool_timeout=self.config.tool_manager_config.tool_execution_timeout,
                taken=frozenset(tool.name for tool in own if tool.type != connector_rules.TOOLSET),
            )
            state.servers = await Servers.connect(connector_rules.servers(request), options)
        return offer(call, state.servers)


def offer(call: ChatCall, listed: Servers) -> ChatCall:
    """The call as a provider without the connector takes it: the servers' tools in place of the toolsets and
    `mcp_servers`, the history's MCP blocks made ordinary turns, and the connector betas off the headers."""
    request = call.request
    own = request.tools if isinstance(request.tools, list) else []
    tools = [tool for tool in own if tool.type != connector_rules.TOOLSET] + listed.tools
    messages = connector_history.rewrite(request.messages) or request.messages
    request = replace(request, tools=tools or UNSET, mcp_servers=UNSET, messages=messages)
    return replace(call, request=request, native=None, extra_headers=_without_betas(call.extra_headers))


def _without_betas(headers: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    kept: list[tuple[str, str]] = []
    for name, value in headers:
        if name.lower() == "anthropic-beta":
            value = ",".join(b for b in (v.strip() for v in value.split(",")) if b not in connector_rules.BETAS)
            if not value:
                continue
        kept.append((name, value))
    return tuple(kept)
