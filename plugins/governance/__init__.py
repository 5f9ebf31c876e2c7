"""Governance: virtual keys (`sk-bf-...`), what each may use, budgets and rate limits, and an admin API.

Configured by the top-level `governance` section (Bifrost's names); state is kept in `<app-dir>/config.db`.
"""

from __future__ import annotations

import contextlib

from aiohttp import web

from gateway import CallContext, ChatCall, Principal, RoutePlan, hookimpl
from gateway.config import PluginConfigRegistry
from gateway.schemas.anthropic import Usage

from . import admin
from .config import GovernanceConfig
from .lifecycle import GOVERNANCE, running
from .service import Governance


@hookimpl
def gw_register_config(registry: PluginConfigRegistry) -> None:
    registry.add_section("governance", GovernanceConfig)


@hookimpl
def gw_register_routes(app: web.Application) -> None:
    admin.add_routes(app)


@hookimpl
def gw_lifespan(app: web.Application) -> contextlib.AbstractAsyncContextManager[None]:
    from gateway.keys import PLUGINS

    config = app[PLUGINS].configs[GovernanceConfig]
    assert isinstance(config, GovernanceConfig)
    app[GOVERNANCE] = Governance(config, enforce_auth=False)
    return running(app, config)


@hookimpl(tryfirst=True)
def gw_authenticate(request: web.Request, ctx: CallContext) -> Principal | None:
    return ctx.app[GOVERNANCE].authenticate(request, ctx)


@hookimpl(tryfirst=True)
def gw_route(call: ChatCall, ctx: CallContext) -> RoutePlan | None:
    return ctx.app[GOVERNANCE].route(call, ctx)


@hookimpl
def gw_transform_request(call: ChatCall, ctx: CallContext) -> None:
    ctx.app[GOVERNANCE].reserve(call, ctx)


@hookimpl
def gw_record_usage(usage: Usage, ctx: CallContext) -> None:
    ctx.app[GOVERNANCE].settle(usage, ctx)
