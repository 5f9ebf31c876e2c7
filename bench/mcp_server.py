"""An MCP server over stdio with 50 tools (the `mcp` package's MCPServer), for `bench.mcp_injection`."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

TOOLS = 50


def lookup(query: str, limit: int = 10) -> str:
    """Look something up."""
    return query[:limit]


def main() -> None:
    server = MCPServer("bench")
    for index in range(TOOLS):
        server.add_tool(lookup, name=f"lookup_{index:02d}", description=f"Look something up in index {index}.")
    server.run("stdio")


if __name__ == "__main__":
    main()
