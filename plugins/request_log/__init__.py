"""Request log (`logging`, Bifrost's name): one row per call in SQLite (`logs.db` in the app dir), or in
PostgreSQL when `logs_store` says so (shared by every gateway pointed at it), written off the request path in
batches; `/api/logs` (filters, cursor pages), `/api/logs/stats` and a live tail.

Enabled by an entry in `plugins[]`; unlisted, it registers no hook and no route and costs nothing. Content
(messages and answer) is logged unless `client.disable_content_logging` is true or the request sends
`x-bf-disable-content-logging: true`. See the README's "Observability: request log".
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from gateway.api import (
    APP_DIR,
    PRICES,
    SETTINGS,
    ConfigRegistry,
    add_hooks,
    add_readiness_check,
    hookimpl,
    plugin_config,
    plugin_enabled,
    remove_hooks,
)

from . import api
from .config import LoggingConfig
from .hooks import ContentHooks, LogHooks
from .store import LogStore, SqliteLogStore
from .writer import RequestLog

NAME = "logging"
HOOKS = "logging.hooks"
CONTENT_HOOKS = "logging.content"
SHUTDOWN_WRITE_SECONDS = 10.0
READY_SECONDS = 2.0  # /ready's bound on asking a Postgres logs_store whether it answers


@hookimpl
def gw_register_config(registry: ConfigRegistry) -> None:
    registry.add(NAME, LoggingConfig)


@hookimpl
def gw_register_routes(app: web.Application) -> None:
    if plugin_enabled(app, NAME):
        api.add_routes(app)


@hookimpl
def gw_lifespan(app: web.Application) -> contextlib.AbstractAsyncContextManager[None] | None:
    return _running(app) if plugin_enabled(app, NAME) else None


@contextlib.asynccontextmanager
async def _running(app: web.Application) -> AsyncIterator[None]:
    config = plugin_config(app, LoggingConfig)
    client = app[SETTINGS].client
    async with _opened(app, config) as store:
        log = app[api.LOG] = RequestLog(store, config.queue_size, config.batch_size, config.flush_interval_in_seconds)
        content = not client.disable_content_logging
        add_hooks(app, LogHooks(log, app[PRICES], content), HOOKS)
        if content:
            add_hooks(app, ContentHooks(), CONTENT_HOOKS)
        tasks = [
            asyncio.create_task(log.run()),
            asyncio.create_task(log.purge_every(config.purge_interval_in_seconds, client.log_retention_days)),
        ]
        try:
            yield
        finally:
            remove_hooks(app, HOOKS)
            remove_hooks(app, CONTENT_HOOKS)
            with contextlib.suppress(TimeoutError):  # the rows of the calls that just ended, written by the writer
                await asyncio.wait_for(log.idle(), SHUTDOWN_WRITE_SECONDS)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await log.flush()  # the observers have run (the engine drained them first): their rows go in now


@contextlib.asynccontextmanager
async def _opened(app: web.Application, config: LoggingConfig) -> AsyncIterator[LogStore]:
    """The store `logs_store` names: PostgreSQL, or by default SQLite at `config.path` (<app-dir>/logs.db)."""
    logs_store = app[SETTINGS].logs_store
    postgres = logs_store.postgres() if logs_store is not None else None
    if postgres is not None:
        from .postgres import postgres_store  # asyncpg is imported only when the store is Postgres

        async with postgres_store(postgres, clock=time.time) as shared:
            # A load balancer's probe must not wait out a statement's timeout (10 s by default) on a hung database.
            ready_s = min(postgres.timeout_in_seconds, READY_SECONDS)
            add_readiness_check(app, "logs_store", shared.ping, timeout_s=ready_s)
            yield shared
        return
    path = Path(config.path) if config.path else app[APP_DIR] / "logs.db"
    store = await SqliteLogStore.open(path, clock=time.time)
    try:
        yield store
    finally:
        await store.close()
