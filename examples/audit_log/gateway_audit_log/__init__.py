"""Audit log: every call's principal, model, cost and decision, one JSON object a line.

Config: {"plugins": [{"name": "audit_log", "config": {"path": "/var/log/gateway/audit.jsonl"}}]}

It shows the observe path of the plugin API: `gw_record_usage` for calls that were served, `gw_record_error` for
calls that were denied or failed, `gw_record_tool_call` for the MCP tools the gateway ran (or refused) for a
caller; all run after the answer was sent, never delaying it. Its hooks are added at
start-up only when a path is configured (`add_hooks`), so installed and unconfigured it costs nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from gateway.api import PRICES, ConfigRegistry, add_hooks, hookimpl, plugin_config, remove_hooks

from .config import AuditConfig
from .log import AuditHooks, AuditLog

HOOKS_NAME = "audit_log.hooks"


@hookimpl
def gw_register_config(registry: ConfigRegistry) -> None:
    registry.add("audit_log", AuditConfig)


@hookimpl
def gw_lifespan(app: web.Application) -> contextlib.AbstractAsyncContextManager[None] | None:
    config = plugin_config(app, AuditConfig)
    return _writing(app, Path(config.path)) if config.path else None


@contextlib.asynccontextmanager
async def _writing(app: web.Application, path: Path) -> AsyncIterator[None]:
    log = AuditLog(path)
    add_hooks(app, AuditHooks(log, app[PRICES]), HOOKS_NAME)
    try:
        yield
    finally:
        remove_hooks(app, HOOKS_NAME)
        log.close()
