"""Response cache (`semantic_cache`, Bifrost's name): answers replayed for repeated (direct mode) or similar
(semantic mode) requests, kept in aiocache (memory, or Redis).

Enabled by an entry in `plugins[]`; unlisted, it registers no request hook and costs nothing. It engages per
request only with a cache key (`x-bf-cache-key` or `default_cache_key`). See the README's "Response cache".
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

from gateway import hookimpl
from gateway.api import SETTINGS, ConfigRegistry, add_hooks, plugin_config, plugin_enabled, remove_hooks

from . import admin
from .config import SemanticCacheConfig
from .hooks import CacheHooks
from .semantic import Semantic
from .store import EntryStore

NAME = "semantic_cache"
HOOKS_NAME = "semantic_cache.hooks"


@dataclass(slots=True, frozen=True)
class Runtime:
    config: SemanticCacheConfig
    store: EntryStore
    semantic: Semantic | None


RUNTIME = web.AppKey("semantic_cache", Runtime)


@hookimpl
def gw_register_config(registry: ConfigRegistry) -> None:
    registry.add(NAME, SemanticCacheConfig)


@hookimpl
def gw_register_routes(app: web.Application) -> None:
    admin.add_routes(app)


@hookimpl
def gw_lifespan(app: web.Application) -> contextlib.AbstractAsyncContextManager[None]:
    return _running(app)


@contextlib.asynccontextmanager
async def _running(app: web.Application) -> AsyncIterator[None]:
    if not plugin_enabled(app, NAME):
        yield
        return
    config = plugin_config(app, SemanticCacheConfig)
    store = EntryStore.configured(config.cache_store, app[SETTINGS].redis)
    semantic = Semantic.configured(app[SETTINGS], config)
    if semantic is not None:
        await semantic.start()
    app[RUNTIME] = Runtime(config=config, store=store, semantic=semantic)
    add_hooks(app, CacheHooks(config, store, semantic), HOOKS_NAME)
    try:
        yield
    finally:
        remove_hooks(app, HOOKS_NAME)
        if semantic is not None:
            await semantic.close()
        await store.close()
