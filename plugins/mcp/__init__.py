"""MCP (`mcp`, Bifrost's section): the MCP servers the gateway connects to. See the README's "MCP tools".

Configured by the top-level `mcp` section, checked by `check-config`.
"""

from __future__ import annotations

from gateway import hookimpl
from gateway.api import ConfigRegistry

from .config import McpConfig

SECTION = "mcp"


@hookimpl
def gw_register_config(registry: ConfigRegistry) -> None:
    registry.add_section(SECTION, McpConfig)
