"""Governance on the request path, as hooks: registered by lifecycle.running when governance is in use."""

from __future__ import annotations

from aiohttp import web

from gateway import CallContext, ChatCall, Principal, RoutePlan, hookimpl
from gateway.api import anthropic as a

from .service import Governance


class RequestHooks:
    def __init__(self, governance: Governance) -> None:
        self._governance = governance

    @hookimpl(tryfirst=True)
    def gw_authenticate(self, request: web.Request, ctx: CallContext) -> Principal | None:
        return self._governance.authenticate(request, ctx)

    @hookimpl(tryfirst=True)
    def gw_route(self, call: ChatCall, ctx: CallContext) -> RoutePlan | None:
        return self._governance.route(call, ctx)

    @hookimpl
    async def gw_admit_cached(self, ctx: CallContext) -> None:
        await self._governance.count_request(ctx)

    @hookimpl
    async def gw_admit_tool_call(self, ctx: CallContext) -> None:
        await self._governance.count_request(ctx)

    @hookimpl
    async def gw_admit_attempt(self, call: ChatCall, ctx: CallContext) -> None:
        await self._governance.reserve(call, ctx)

    @hookimpl
    def gw_record_usage(self, usage: a.Usage, ctx: CallContext) -> None:
        self._governance.settle(usage, ctx)
