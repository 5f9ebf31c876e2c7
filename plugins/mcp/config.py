"""The top-level `mcp` section of the config file (Bifrost's names): the MCP servers the gateway connects to.

`connection_string`, `headers` and `stdio_config.envs` values may be `env.NAME` references (resolved by the core
when the file is read, like every other value); header and env values are secrets: never logged.
"""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, field

from gateway.api import ConfigStruct, Settings

DEFAULT_AGENT_DEPTH = 10
DEFAULT_TOOL_TIMEOUT_S = 30.0
DEFAULT_TOOL_SYNC_INTERVAL_S = 600.0  # Bifrost's mcp_tool_sync_interval: 10 minutes
DEFAULT_HEALTH_CHECK_INTERVAL_S = 10.0  # Bifrost's health monitor's period
ALL = "*"
# A client's name prefixes its tools (`{client}-{tool}`), so it has no hyphen: the first one splits the two.
CLIENT_NAME = r"^[A-Za-z0-9_]{1,32}$"


class McpStdioConfig(ConfigStruct, frozen=True):
    """A server the gateway starts as a subprocess and talks to over its stdin and stdout."""

    command: Annotated[str, Meta(min_length=1)]
    args: list[str] = field(default_factory=list)
    # Bifrost's list of variable names the server needs (passed from the gateway's environment), or names and
    # values. The subprocess gets only these and the SDK's safe defaults (PATH, HOME, ...), not the whole
    # environment, which holds the provider keys.
    envs: list[str] | dict[str, str] = field(default_factory=list)


class McpClientConfig(ConfigStruct, frozen=True):
    """One MCP server (`mcp.client_configs[]`)."""

    name: Annotated[str, Meta(pattern=CLIENT_NAME)]
    connection_type: Literal["http", "sse", "stdio"]
    connection_string: str | None = None  # the URL for http (streamable HTTP) and sse
    stdio_config: McpStdioConfig | None = None
    headers: dict[str, str] = field(default_factory=dict)  # sent with every HTTP request (e.g. Authorization)
    # The server's tools (its own names) offered to models: ["*"] all (the default), [] none.
    tools_to_execute: list[str] = field(default_factory=lambda: [ALL])
    tools_to_auto_execute: list[str] = field(default_factory=list)  # run by the gateway in agent mode
    tool_execution_timeout: Annotated[float, Meta(gt=0)] | None = None  # seconds; None: tool_manager_config's
    tool_sync_interval: Annotated[float, Meta(gt=0)] | None = None  # seconds; None: the section's

    def allows(self, tool: str) -> bool:
        return ALL in self.tools_to_execute or tool in self.tools_to_execute


class McpToolManagerConfig(ConfigStruct, frozen=True):
    max_agent_depth: Annotated[int, Meta(ge=1, le=50)] = DEFAULT_AGENT_DEPTH
    tool_execution_timeout: Annotated[float, Meta(gt=0)] = DEFAULT_TOOL_TIMEOUT_S  # seconds


class McpConfig(ConfigStruct, frozen=True):
    client_configs: list[McpClientConfig] = field(default_factory=list)
    tool_manager_config: McpToolManagerConfig = field(default_factory=McpToolManagerConfig)
    tool_sync_interval: Annotated[float, Meta(gt=0)] = DEFAULT_TOOL_SYNC_INTERVAL_S  # seconds between listings
    # Seconds between health checks (a `tools/list`: the current protocol has no ping); 0 turns them off.
    health_check_interval: Annotated[float, Meta(ge=0)] = DEFAULT_HEALTH_CHECK_INTERVAL_S
    connect_timeout: Annotated[float, Meta(gt=0)] = 10.0  # seconds for one connection attempt (and its listing)
    # A server that is down is retried after 0.5 s, then twice as long each time, up to this many seconds.
    reconnect_backoff_max: Annotated[float, Meta(gt=0)] = 30.0
    # The MCP connector (a request's `mcp_servers`): per provider, relay them to it ("passthrough", the default
    # for a provider on the Anthropic wire) or let the gateway run them ("gateway", the default for the others).
    connector: dict[str, Literal["passthrough", "gateway"]] = field(default_factory=dict)
    # Request-supplied server URLs the SSRF rule lets through (exact URLs, or prefixes ending at a "/"); every
    # other one must be https and resolve to public addresses only.
    allowed_server_urls: list[str] = field(default_factory=list)

    def config_errors(self) -> list[str]:
        """Problems across fields, each with its full path."""
        errors: list[str] = []
        seen: set[str] = set()
        for index, client in enumerate(self.client_configs):
            where = f"$.mcp.client_configs[{index}]"
            if client.name in seen:
                errors.append(f"{where}.name: {client.name!r} is the name of an earlier client")
            seen.add(client.name)
            errors += _connection_errors(client, where)
            not_offered = [t for t in client.tools_to_auto_execute if t != ALL and not client.allows(t)]
            if not_offered:
                errors.append(
                    f"{where}.tools_to_auto_execute: {', '.join(not_offered)} not in tools_to_execute"
                    " (a tool not offered to models cannot be run for them)"
                )
        return errors

    def settings_errors(self, settings: Settings) -> list[str]:
        """Problems that need the rest of the config: the connector's providers."""
        from .connector import connector_errors

        return connector_errors(self, settings)


def _connection_errors(client: McpClientConfig, where: str) -> list[str]:
    if client.connection_type == "stdio":
        return [] if client.stdio_config is not None else [f"{where}: a stdio client needs `stdio_config`"]
    url = client.connection_string
    if not url:
        return [f"{where}: an {client.connection_type} client needs `connection_string` (the server's URL)"]
    if not url.startswith(("http://", "https://")):
        return [f"{where}.connection_string: expected an http:// or https:// URL"]  # the value may hold a secret
    return []
