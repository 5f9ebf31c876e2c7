"""Default routing: `provider/model`, or a bare model by the route's default provider (see gateway.routing)."""

from __future__ import annotations

from gateway import CallContext, ChatCall, RoutePlan, hookimpl
from gateway.api import CATALOG, resolve_target


@hookimpl(trylast=True)
def gw_route(call: ChatCall, ctx: CallContext) -> RoutePlan | None:
    target = resolve_target(call.model, ctx.route_prefix, ctx.settings, ctx.app.get(CATALOG))
    return RoutePlan(targets=(target,)) if target is not None else None
