"""Which MCP tools a caller may use: the one rule that injection, `/v1/mcp/tool/execute`, `/mcp` and agent mode
share, so that a tool a caller is not offered is one it cannot run either.

Intersected: each client's `tools_to_execute` (applied when its tools are listed, so not repeated here), then
either the caller's `mcp_configs` (a virtual key's, carried by its `Principal`) when it has any, which replace
the request's headers, or else the headers `x-bf-mcp-include-clients: a,b` and `x-bf-mcp-include-tools: fs-*`
(an empty value means none). A client the caller's `mcp_configs` do not name is not available to it.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping

from gateway import Principal

from .config import ALL
from .connections import Connection, McpTool

INCLUDE_CLIENTS = "x-bf-mcp-include-clients"
INCLUDE_TOOLS = "x-bf-mcp-include-tools"
NOTHING = re.compile(r"(?!)")


class Access:
    """What one caller may use; build it once per call with `access_of`."""

    __slots__ = ("clients", "grants", "holder", "pattern")

    def __init__(
        self,
        clients: frozenset[str] | None = None,
        pattern: re.Pattern[str] | None = None,
        grants: Mapping[str, frozenset[str]] | None = None,
        holder: str = "",
    ) -> None:
        self.clients = clients  # from x-bf-mcp-include-clients; None: any
        self.pattern = pattern  # from x-bf-mcp-include-tools, over `{client}-{tool}`; None: any
        self.grants = grants  # the principal's mcp_configs: client -> its own tool names ("*": all)
        self.holder = holder  # who holds the grants, for errors: "virtual key 'ci'"

    @property
    def unfiltered(self) -> bool:
        """Nothing narrows the configured tools (no headers, no mcp_configs)."""
        return self.clients is None and self.pattern is None and self.grants is None

    def allows(self, client: str, tool: str) -> bool:
        """May the caller use `tool` (the server's own name) of `client`?"""
        return self.refusal(client, tool) is None

    def refusal(self, client: str, tool: str) -> str | None:
        """None when allowed; else why not, for the caller's error."""
        name = f"{client}-{tool}"
        if self.grants is not None:
            granted = self.grants.get(client)
            if granted is None or (ALL not in granted and tool not in granted):
                return f"tool {name!r} is not allowed by the mcp_configs of {self.holder}"
            return None
        if (self.clients is not None and client not in self.clients) or (
            self.pattern is not None and not self.pattern.match(name)
        ):
            return f"tool {name!r} is not allowed by the x-bf-mcp-include-* headers"
        return None


def access_of(headers: Mapping[str, str], principal: Principal | None) -> Access:
    """The caller's access: its principal's mcp_configs when it has any, else the request's headers."""
    if principal is not None and principal.mcp_configs:
        grants = {g.mcp_client_name: frozenset(g.tools_to_execute) for g in principal.mcp_configs}
        holder = f"{principal.kind.replace('_', ' ')} '{principal.name or principal.id}'"
        return Access(grants=grants, holder=holder)
    clients_header, tools_header = headers.get(INCLUDE_CLIENTS), headers.get(INCLUDE_TOOLS)
    if clients_header is None and tools_header is None:
        return Access()
    return Access(clients=_names(clients_header), pattern=_pattern(tools_header))


def allowed_tools(connections: Iterable[Connection], access: Access) -> list[McpTool]:
    """Every tool of the connected servers the caller may use, sorted by name."""
    tools = [tool for c in connections for tool in c.tools if access.allows(tool.client, tool.tool)]
    return sorted(tools, key=lambda tool: tool.name)


def _names(header: str | None) -> frozenset[str] | None:
    """The header's comma-separated names; None (no filter) when absent or "*"; empty when the value is empty."""
    if header is None:
        return None
    names = frozenset(name.strip() for name in header.split(",")) - {""}
    return None if ALL in names else names


def _pattern(header: str | None) -> re.Pattern[str] | None:
    """Glob patterns of full tool names (`fs-*`), as one regex; one that matches nothing when the value is empty."""
    if header is None:
        return None
    globs = [glob.strip() for glob in header.split(",") if glob.strip()]
    if not globs:
        return NOTHING
    return re.compile("|".join(f"(?:{fnmatch.translate(glob)})" for glob in globs))
