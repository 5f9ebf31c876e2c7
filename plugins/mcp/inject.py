"""Tool injection (gw_prepare_tools): the MCP tools a call may use are added to it, after the client's own.

The order is stable (sorted by name) so that a prompt cache keyed on the tool list keeps hitting. Which tools a
caller may use is access.py's rule (the clients' `tools_to_execute`, then the caller's `mcp_configs` or the
x-bf-mcp-include-* headers). With `client.mcp_disable_auto_tool_inject`, only a call that sends one of those
headers, or whose caller has `mcp_configs`, gets tools.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec

from gateway import CallContext, ChatCall, hookimpl
from gateway.api import anthropic

from .access import access_of
from .config import ALL
from .connections import Connection, McpTool

Offered = tuple[tuple[McpTool, anthropic.Tool], ...]


@dataclass(slots=True)
class Injected:
    """Per call (agent mode): the auto-executable tools injected, by the name the model sees them under."""

    auto: dict[str, McpTool] = field(default_factory=dict)


class Injector:
    def __init__(self, connections: Sequence[Connection]) -> None:
        self.connections = tuple(connections)
        self._listed: tuple[tuple[McpTool, ...], ...] = ()
        self._offered: Offered = ()
        self._auto = {  # per client, the tools the gateway runs itself (agent mode)
            c.config.name: frozenset(c.config.tools_to_auto_execute)
            for c in connections
            if c.config.tools_to_auto_execute
        }

    def offered(self) -> Offered:
        """Every connected server's allowed tools with their wire form, sorted by name; rebuilt only when a
        listing changed (the tuples compare by identity first, so an unchanged set costs a few pointer checks)."""
        listed = tuple(connection.tools for connection in self.connections)
        if listed != self._listed:
            tools = sorted((tool for tools in listed for tool in tools), key=lambda tool: tool.name)
            self._offered = tuple((tool, _wire(tool)) for tool in tools)
            self._listed = listed
        return self._offered

    @hookimpl
    def gw_prepare_tools(self, call: ChatCall, ctx: CallContext) -> list[anthropic.Tool] | None:
        access = access_of(ctx.headers, ctx.principal)
        if access.unfiltered and ctx.settings.client.mcp_disable_auto_tool_inject:
            return None
        if call.translation_error is not None:
            return None  # only the client's own body can serve this call: a changed request would not be sent
        offered = self.offered()
        own = call.request.tools
        taken = {tool.name for tool in own} if isinstance(own, list) else set()
        if access.unfiltered and not taken:
            chosen = offered
        else:
            chosen = tuple(
                (mcp_tool, tool)
                for mcp_tool, tool in offered
                if tool.name not in taken  # the client's own tool of that name wins
                and access.allows(mcp_tool.client, mcp_tool.tool)
            )
        if self._auto:
            ctx.state(Injected).auto = {tool.name: tool for tool, _ in chosen if self._runs(tool)}
        return [tool for _, tool in chosen] or None

    def _runs(self, tool: McpTool) -> bool:
        names = self._auto.get(tool.client)
        return names is not None and (ALL in names or tool.tool in names)


def _wire(tool: McpTool) -> anthropic.Tool:
    return anthropic.Tool(
        name=tool.name,
        description=tool.description or msgspec.UNSET,
        input_schema=msgspec.Raw(tool.input_schema),
    )
