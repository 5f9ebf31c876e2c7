"""Where every inference route starts: a call context with the caller authenticated, and the body read."""

from __future__ import annotations

from aiohttp import web

from ..errors import AuthenticationFailed, InvalidRequest
from ..keys import ENGINE, REQUEST_ID, SETTINGS
from ..pipeline.context import CallContext


async def start_call(request: web.Request, prefix: str) -> CallContext:
    """A fresh call context, with the caller authenticated (or refused when a key is required)."""
    settings = request.app[SETTINGS]
    ctx = CallContext(
        request_id=request[REQUEST_ID],
        app=request.app,
        settings=settings,
        headers=request.headers,
        route_prefix=prefix,
        plugin_configs=request.app[ENGINE].plugin_configs,
    )
    ctx.principal = await request.app[ENGINE].pipeline.authenticate(request, ctx)
    if ctx.principal is None and settings.client.enforce_auth_on_inference:
        raise AuthenticationFailed("missing API key: send it as x-api-key or Authorization: Bearer")
    return ctx


async def read_body(request: web.Request) -> bytes:
    content_type = request.headers.get("Content-Type", "")
    if content_type and "json" not in content_type:
        raise InvalidRequest(f"Content-Type must be application/json, not {content_type!r}")
    return await request.read()


def served_headers(ctx: CallContext) -> dict[str, str]:
    """Who served the answer: provider, model, which fallback (0: the primary) and how many upstream attempts."""
    target = ctx.served_by
    if target is None:
        return {}
    return {
        "x-bf-provider": target.provider,
        "x-bf-model": target.model,
        "x-bf-fallback-index": str(ctx.fallback_index),
        "x-bf-attempts": str(ctx.attempts),
    }
