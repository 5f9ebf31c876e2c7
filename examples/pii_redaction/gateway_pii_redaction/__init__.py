"""PII guardrail: personal data in requests is redacted before it goes upstream (or the call is refused), and
in answers before it reaches the client, streams included.

Config: {"plugins": [{"name": "pii_redaction", "config": {"enabled": true, "builtin": ["email", "credit_card"],
         "block": ["credit_card"], "rules": [{"name": "employee_id", "pattern": "EMP-\\\\d{6}"}]}}]}

It shows a plugin's three paths: refusing a call (`gw_authorize` raises: the short-circuit), rewriting it
(`gw_transform_request`, `gw_transform_response`) and rewriting a stream chunk by chunk (`gw_transform_chunk`,
with per-call state). Hooks are added only when enabled, so installed and off it costs nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from gateway.api import ConfigRegistry, add_hooks, hookimpl, plugin_config, remove_hooks

from .config import PiiConfig, compiled_rules
from .hooks import PiiHooks
from .scrub import Scrubber

HOOKS_NAME = "pii_redaction.hooks"


@hookimpl
def gw_register_config(registry: ConfigRegistry) -> None:
    registry.add("pii_redaction", PiiConfig)


@hookimpl
def gw_lifespan(app: web.Application) -> contextlib.AbstractAsyncContextManager[None] | None:
    config = plugin_config(app, PiiConfig)
    if not config.enabled:
        return None
    return _guarding(app, PiiHooks(Scrubber(compiled_rules(config)), config))


@contextlib.asynccontextmanager
async def _guarding(app: web.Application, hooks: PiiHooks) -> AsyncIterator[None]:
    add_hooks(app, hooks, HOOKS_NAME)
    try:
        yield
    finally:
        remove_hooks(app, HOOKS_NAME)
