"""Prometheus metrics (`metrics`): Bifrost's metric names and labels at `/metrics`, from a registry of the app's
own. See the README's "Observability: metrics".

Enabled by an entry in `plugins[]`; unlisted, it adds no route, middleware or request hook, and costs nothing.
Enabled, the request's path gains a middleware (HTTP counts and durations), and a cache hit's one gw_admit_cached
hook; the call metrics are counted by observers, off the request's path.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from gateway import hookimpl
from gateway.api import (
    PRICES,
    SETTINGS,
    ConfigError,
    ConfigRegistry,
    NotFound,
    add_hooks,
    plugin_config,
    plugin_enabled,
    remove_hooks,
)

from . import http
from .config import MetricsConfig
from .hooks import MetricsHooks
from .series import BASE_LABELS, HTTP_LABELS, Series

NAME = "metrics"
HOOKS_NAME = "metrics.hooks"
SERIES = web.AppKey("metrics_series", Series)
RESERVED = frozenset({*BASE_LABELS, *HTTP_LABELS, "status_code", "error_type", "cache_type", "le", "quantile"})
log = logging.getLogger("gateway.metrics")


@hookimpl
def gw_register_config(registry: ConfigRegistry) -> None:
    registry.add(NAME, MetricsConfig)


@hookimpl
def gw_register_routes(app: web.Application) -> None:
    if not plugin_enabled(app, NAME):
        return
    config = plugin_config(app, MetricsConfig)
    asked = app[SETTINGS].client.prometheus_labels
    # Bifrost has no base `team` label (its are team_id/team_name), so its configs list `team` as a custom one:
    # here x-bf-dim-team fills the base label of calls whose key has no team (the key's own team wins).
    custom = tuple(name for name in asked if name != "team")
    clashing = sorted(RESERVED.intersection(custom))
    if clashing:
        raise ConfigError([f"$.client.prometheus_labels: {name!r} is a label of its own" for name in clashing])
    app[SERIES] = series = Series(custom, config.label_value_limit, team_from_header="team" in asked)
    app.middlewares.insert(0, http.middleware(series))  # outermost: it sees the answer every request got
    if config.port is None:
        app.router.add_get(http.PATH, http.handler(series, guarded=True))
    else:
        app.router.add_get(http.PATH, _elsewhere)


async def _elsewhere(request: web.Request) -> web.Response:
    raise NotFound("/metrics is served on the metrics port (plugins[].config.port)")


@hookimpl
def gw_lifespan(app: web.Application) -> contextlib.AbstractAsyncContextManager[None]:
    return _running(app)


@contextlib.asynccontextmanager
async def _running(app: web.Application) -> AsyncIterator[None]:
    series = app.get(SERIES)
    if series is None:
        yield
        return
    config = plugin_config(app, MetricsConfig)
    add_hooks(app, MetricsHooks(series, app[PRICES]), HOOKS_NAME)
    try:
        if config.port is None:
            yield
        else:
            async with http.own_listener(series, config.host, config.port) as url:
                log.info("metrics on %s", url)
                yield
    finally:
        remove_hooks(app, HOOKS_NAME)
