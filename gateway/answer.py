"""What every way of running a call shares, whether an HTTP route runs it now or a job worker later: its context
and the headers of its answer. (Below both `gateway.http` and `gateway.jobs`, so neither imports the other.)"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from msgspec.structs import replace

from .context import CallContext
from .errors import AuthenticationFailed
from .keys import ENGINE, REDACTOR, REQUEST_ID, SETTINGS

if TYPE_CHECKING:
    from aiohttp import web
    from multidict import CIMultiDictProxy

    from .call import ChatResult, Principal, ToolCall, ToolOutcome
    from .dialects.base import ClientDialect


def new_request_id() -> str:
    return "req_" + secrets.token_hex(12)


def new_context(
    app: web.Application,
    request_id: str,
    headers: CIMultiDictProxy[str],
    route_prefix: str,
    principal: Principal | None = None,
) -> CallContext:
    engine = app[ENGINE]
    return CallContext(
        request_id=request_id,
        app=app,
        settings=app[SETTINGS],
        headers=headers,
        route_prefix=route_prefix,
        principal=principal,
        plugin_configs=engine.plugin_configs,
        media_rules=engine.providers.media_rules,
        wire_dialect=engine.providers.wire_dialect,
        target_caller=engine.call_target,
        target_streamer=engine.stream_target,
    )


def served_headers(ctx: CallContext) -> dict[str, str]:
    """Who served the answer: provider, model, which fallback (0: the primary) and how many upstream attempts;
    and what plugins added (`ctx.set_header`)."""
    target = ctx.served_by
    if target is None:
        return ctx.response_headers
    return ctx.response_headers | {
        "x-bf-provider": target.provider,
        "x-bf-model": target.model,
        "x-bf-fallback-index": str(ctx.fallback_index),
        "x-bf-attempts": str(ctx.attempts),
    }


def answer_headers(dialect: ClientDialect, result: ChatResult | None, ctx: CallContext) -> dict[str, str]:
    """A complete answer's headers: the request id (the upstream's, with a body relayed as it came) and who
    served it."""
    headers = {dialect.request_id_header: ctx.request_id}
    if result is not None and result.native is not None and result.native.dialect == dialect.name:
        headers.update(result.headers)  # relayed body: relay the upstream's request id with it
    return headers | served_headers(ctx)


async def start_call(request: web.Request, prefix: str) -> CallContext:
    """A fresh call context, with the caller authenticated (or refused when a key is required)."""
    ctx = new_context(request.app, request[REQUEST_ID], request.headers, prefix)
    ctx.principal = await request.app[ENGINE].pipeline.authenticate(request, ctx)
    if ctx.principal is None and ctx.settings.client.enforce_auth_on_inference:
        raise AuthenticationFailed("missing API key: send it as x-api-key or Authorization: Bearer")
    return ctx


async def admit_tool_call(tool: ToolCall, ctx: CallContext) -> None:
    """Before a plugin runs a tool for a caller: gw_admit_tool_call (rate limits count it, or refuse it)."""
    await ctx.app[ENGINE].pipeline.admit_tool_call(tool, ctx)


def record_tool_call(tool: ToolCall, outcome: ToolOutcome, ctx: CallContext) -> None:
    """After a tool call ended, however it ended: gw_record_tool_call, off the request path, with the error's
    secrets masked as in the caller's answer."""
    pipeline = ctx.app[ENGINE].pipeline
    if not pipeline.has("gw_record_tool_call"):
        return
    if outcome.error is not None:
        outcome = replace(outcome, error=ctx.app[REDACTOR].error(outcome.error))
    pipeline.record_tool_call(tool, outcome, ctx)
