"""Invalidation: `DELETE /api/cache/clear/{cache_id}` and `DELETE /api/cache/clear-by-key/{key}` (Bifrost's routes).

Both need the admin credentials (`gateway.api.require_admin`, as every admin route): without any configured they
are closed (401), as governance's admin API is.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from aiohttp import web

from gateway.api import NotFound, require_admin

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

    require_admin(request, "the cache admin API")
    runtime = request.app.get(RUNTIME)
    if runtime is None:
        raise NotFound("the semantic_cache plugin is not enabled (plugins[] of the config)")
    return runtime
