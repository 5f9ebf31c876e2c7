"""Governance: virtual keys (`sk-bf-...`), what each may use, budgets and rate limits, and an admin API.

Configured by the top-level `governance` section (Bifrost's names); state is kept in `<app-dir>/config.db`, or
where Bifrost's `config_store` says (a sqlite `config.path`, or a PostgreSQL database: pg_store.py).
Its request-path hooks (hooks.py) are registered at start-up only when governance is in use (keys exist or the
admin API is open), so a gateway without it pays nothing per request.
"""

from __future__ import annotations

import contextlib

from aiohttp import web

from gateway import hookimpl
from gateway.api import PRICES, ConfigRegistry, plugin_config

from . import admin
from .config import GovernanceConfig
from .lifecycle import GOVERNANCE, running
from .service import Governance


@hookimpl
def gw_register_config(registry: ConfigRegistry) -> None:
    registry.add_section("governance", GovernanceConfig)


@hookimpl
def gw_register_routes(app: web.Application) -> None:
    admin.add_routes(app)


@hookimpl
def gw_lifespan(app: web.Application) -> contextlib.AbstractAsyncContextManager[None]:
    config = plugin_config(app, GovernanceConfig).resolved()  # by-id budgets and rate limits attached
    app[GOVERNANCE] = Governance(config, enforce_auth=False, prices=app[PRICES])
    return running(app, config)
