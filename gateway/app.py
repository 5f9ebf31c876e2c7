"""create_app: wiring only. State lives behind AppKeys, created in cleanup contexts (no singletons)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

from aiohttp import web

from .admin import ADMIN_API, Admin, admin_auth
from .catalog import Catalog
from .config import Settings
from .events import Events
from .http import async_jobs, index, inference, models, provider_health
from .http.bodies import CONCURRENT_INFLATIONS
from .http.cors import install_cors
from .http.middlewares import errors_middleware
from .http.server import protocol_log
from .jobs.run import jobs_context
from .keys import (
    ADMIN,
    ADMIN_PATHS,
    APP_DIR,
    CATALOG,
    DRAIN,
    ENGINE,
    EVENTS,
    INFLATIONS,
    MODEL_LISTS,
    PLUGINS,
    PRICES,
    REDACTOR,
    REDIS,
    SETTINGS,
)
from .pipeline.execute import Engine
from .pipeline.stages import Pipeline
from .plugins import load_plugins
from .pricing import PriceTable
from .providers.connections import provider_clients
from .providers.executor import Providers
from .providers.listing import ModelLists
from .providers.shared import SharedState
from .readiness import Drain, NotReady, add_readiness_check, ready
from .redaction import Redactor, configured_secrets, install_log_redaction
from .shared_redis import shared_redis
from .startup import app_dir_lock

DEFAULT_APP_DIR = Path("gateway-data")


def create_app(
    settings: Settings,
    *,
    app_dir: Path | None = None,
    extra_plugins: Iterable[object] = (),
    lock_app_dir: bool = True,
) -> web.Application:
    """Build the app; raises ConfigError (every problem, with its path) before anything starts. `lock_app_dir`
    False: a worker of `gateway serve --workers`, whose supervisor holds the app dir for all of them."""
    loaded = load_plugins(settings, extra_plugins)
    client = settings.client
    app = web.Application(
        middlewares=[errors_middleware],
        client_max_size=client.max_request_body_size_mb * 1024 * 1024,
        handler_args={
            # Compressed bodies are inflated by read_body, under the size limit: aiohttp would inflate them
            # before any limit applies (a decompression bomb).
            "auto_decompress": False,
            # aiohttp closes a connection still waiting for a request head when this runs out: the header
            # deadline against slow clients (and the idle limit of keep-alive connections).
            "keepalive_timeout": client.header_timeout_in_seconds,
            "logger": protocol_log(),
        },
    )
    install_cors(app, client.allowed_origins)
    app[SETTINGS] = settings
    app[PLUGINS] = loaded
    app[APP_DIR] = app_dir or DEFAULT_APP_DIR
    app[REDACTOR] = Redactor(configured_secrets(settings))
    app[CATALOG] = catalog = Catalog(settings)
    app[PRICES] = PriceTable(catalog, kind=settings.provider_kind)
    app[INFLATIONS] = asyncio.Semaphore(CONCURRENT_INFLATIONS)
    app[DRAIN] = Drain()
    app[ADMIN] = Admin(admin_auth(settings.governance))
    app[ADMIN_PATHS] = [ADMIN_API]
    # The app dir is locked first and released last: nothing opens its databases without holding it.
    if lock_app_dir:
        app.cleanup_ctx.append(_app_dir_lock)
    # Cleanup runs in reverse: the pub/sub listener stops first (no resync reads a store being closed), jobs
    # finish next, then the engine drains its observers (usage records), and only then do plugins close what
    # those observers write to. Log redaction is on before anything starts and off after everything stopped.
    app.cleanup_ctx.append(_log_redaction)
    app.cleanup_ctx.append(_redis_client)  # plugins' stores use it: opened before them, closed after
    app.cleanup_ctx.append(_plugin_lifespans)
    app.cleanup_ctx.append(_engine_context)
    app.cleanup_ctx.append(jobs_context)
    app.cleanup_ctx.append(_events_listener)
    _add_routes(app)
    loaded.pm.hook.gw_register_routes(app=app)
    return app


def _add_routes(app: web.Application) -> None:
    for prefix in ("/anthropic", ""):
        app.router.add_post(f"{prefix}/v1/messages", inference.messages)
        app.router.add_post(f"{prefix}/v1/messages/count_tokens", inference.count_tokens)
    app.router.add_get("/anthropic/v1/models", models.list_models)
    app.router.add_get("/anthropic/v1/models/{model_id:.+}", models.get_model)
    for prefix in ("/openai", ""):
        app.router.add_post(f"{prefix}/v1/chat/completions", inference.chat_completions)
        app.router.add_get(f"{prefix}/v1/models", models.list_models)
        app.router.add_get(f"{prefix}/v1/models/{{model_id:.+}}", models.get_model)
    app.router.add_post("/v1/async/messages", async_jobs.native_submit_messages)
    app.router.add_get("/v1/async/messages/{job_id}", async_jobs.native_get_messages)
    app.router.add_post("/v1/async/chat/completions", async_jobs.native_submit_chat)
    app.router.add_get("/v1/async/chat/completions/{job_id}", async_jobs.native_get_chat)
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/api/providers/health", provider_health.provider_health)
    app.router.add_get("/", index.index)  # HEAD / too (aiohttp adds it to every GET)


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _engine_context(app: web.Application) -> AsyncIterator[None]:
    """The providers' upstream sessions, the providers, its pipeline and the observer queue's drainer."""
    loaded = app[PLUGINS]
    async with provider_clients(app[SETTINGS]) as clients:
        pipeline = Pipeline(loaded.pm)
        providers = Providers(loaded.providers.build(app[SETTINGS], clients))
        redis = app.get(REDIS)
        if redis is not None:  # sticky sessions and dead-key marks shared by every gateway on it
            providers.shared = SharedState(app, redis, providers.health, providers.sessions)
        app[ENGINE] = Engine(pipeline, providers, loaded.configs)
        app[MODEL_LISTS] = lists = ModelLists(providers.instances, app[SETTINGS].client.model_list_ttl_in_seconds)
        stop = asyncio.Event()
        drainer = asyncio.create_task(pipeline.drain_observers(stop))
        try:
            yield
        finally:
            await lists.close()  # no model list fetch outlives the sessions
            stop.set()  # observers still queued run before the session closes
            await drainer
            if providers.shared is not None:
                await providers.shared.close()


async def _app_dir_lock(app: web.Application) -> AsyncIterator[None]:
    with app_dir_lock(app[APP_DIR]):
        yield


async def _log_redaction(app: web.Application) -> AsyncIterator[None]:
    uninstall = install_log_redaction(app[REDACTOR])
    try:
        yield
    finally:
        uninstall()


async def _redis_client(app: web.Application) -> AsyncIterator[None]:
    config = app[SETTINGS].redis
    if config is None:
        yield
        return
    async with shared_redis(config) as client:
        app[REDIS] = client
        app[EVENTS] = events = Events(client)

        async def answers() -> None:
            if not await client.ping():
                raise NotReady("Redis (the redis section) does not answer")

        add_readiness_check(app, "redis", answers, timeout_s=config.timeout_in_seconds * 2 + 0.5)
        try:
            yield
        finally:
            await events.close()


async def _events_listener(app: web.Application) -> AsyncIterator[None]:
    """Started first on the way down: no message or resync may reach a plugin's store while it is being closed."""
    yield
    events = app.get(EVENTS)
    if events is not None:
        await events.close()


async def _plugin_lifespans(app: web.Application) -> AsyncIterator[None]:
    async with contextlib.AsyncExitStack() as stack:
        for manager in app[PLUGINS].pm.hook.gw_lifespan(app=app):
            if manager is not None:
                await stack.enter_async_context(manager)
        yield
