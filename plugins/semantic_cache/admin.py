"""Invalidation: `DELETE /api/cache/clear/{cache_id}` and `DELETE /api/cache/clear-by-key/{key}` (Bifrost's routes).

Both need `Authorization: Bearer <governance.auth_config.admin_token>`: without an admin token configured they are
closed (401), as governance's admin API is.
"""

from __future__ import annotations

import hmac
import re
from typing import TYPE_CHECKING

from aiohttp import web

from gateway.api import SETTINGS, AuthenticationFailed, NotFound

from .keys import key_digest

if TYPE_CHECKING:
    from . import Runtime

_CACHE_ID = re.compile(r"^([0-9a-f]{24})\.([0-9a-f]{16})\.([0-9a-f]{32})$")


def add_routes(app: web.Application) -> None:
    app.router.add_delete("/api/cache/clear/{cache_id}", _clear_id)
    app.router.add_delete("/api/cache/clear-by-key/{key}", _clear_key)


async def _clear_id(request: web.Request) -> web.Response:
    runtime = _admin(request)
    match = _CACHE_ID.match(request.match_info["cache_id"])
    if match is None:
        raise NotFound("no cache entry has this id")
    key_hash, tenant, digest = match.groups()
    internal = f"{key_hash}:{tenant}.{digest}"
    removed = await runtime.store.delete(f"{runtime.config.vector_store_namespace}:{internal}")
    if runtime.semantic is not None:
        runtime.semantic.index.remove(internal)
    if not removed:
        raise NotFound("no cache entry has this id (it may have expired)")
    return web.json_response({"status": "success", "message": "cache entry cleared"})


async def _clear_key(request: web.Request) -> web.Response:
    runtime = _admin(request)
    key_hash = key_digest(request.match_info["key"])
    await runtime.store.clear_prefix(f"{runtime.config.vector_store_namespace}:{key_hash}")
    if runtime.semantic is not None:
        runtime.semantic.index.remove_prefix(f"{key_hash}:")
    return web.json_response({"status": "success", "message": "cache entries of this key cleared"})


def _admin(request: web.Request) -> Runtime:
    from . import RUNTIME

    runtime = request.app.get(RUNTIME)
    token = _admin_token(request.app)
    scheme, _, given = request.headers.get("Authorization", "").strip().partition(" ")
    ok = bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
    if not ok:
        raise AuthenticationFailed("the cache admin API needs Authorization: Bearer <admin token>")
    if runtime is None:
        raise NotFound("the semantic_cache plugin is not enabled (plugins[] of the config)")
    return runtime


def _admin_token(app: web.Application) -> str:
    """governance.auth_config.admin_token (the one admin credential of the gateway)."""
    auth = app[SETTINGS].governance.get("auth_config")
    token = auth.get("admin_token") if isinstance(auth, dict) else None
    return token if isinstance(token, str) else ""
