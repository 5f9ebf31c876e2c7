"""/metrics and the HTTP metrics: a middleware (outermost, so it sees the status every answer went out with)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.api import ADMIN, StartupError, require_admin

from .hooks import custom_labels
from .series import Series

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
INFERENCE = ("/v1/messages", "/v1/chat/completions", "/anthropic/v1/messages", "/openai/v1/chat/completions")
PATH = "/metrics"


def middleware(series: Series) -> Middleware:
    @web.middleware
    async def measured(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.monotonic()
        inference = request.path in INFERENCE
        if inference:
            series.active += 1
        try:
            response = await handler(request)
        finally:
            if inference:
                series.active -= 1
        method = request.method if request.method in METHODS else "other"
        labels = (_path(request), method, str(response.status), *custom_labels(series, request.headers))
        counts = series.http(labels)
        counts.requests += 1
        counts.duration.observe(time.monotonic() - started)
        return response

    return measured


def _path(request: web.Request) -> str:
    """The route's template (`/v1/models/{model_id}`), never the path as sent: a bounded set."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def handler(series: Series, guarded: bool) -> Handler:
    """`guarded`: on the main listener, where the governance admin token (when there is one) is required."""

    async def metrics(request: web.Request) -> web.Response:
        if guarded:
            _check_admin(request)
        return web.Response(body=generate_latest(series.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return metrics


def _check_admin(request: web.Request) -> None:
    """Open when the gateway has no admin credentials at all (the issue's "guarded when governance has one")."""
    if request.app[ADMIN].auth.configured:
        require_admin(request, "/metrics")


@contextlib.asynccontextmanager
async def own_listener(series: Series, host: str, port: int) -> AsyncIterator[str]:
    """/metrics alone on a listener of its own (open: it is meant for a private network); yields its URL."""
    app = web.Application()
    app.router.add_get(PATH, handler(series, guarded=False))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            raise StartupError(f"cannot serve /metrics on {host}:{port}: {exc.strerror or exc}") from None
        bound = runner.addresses[0][1]
        yield f"http://{host}:{bound}{PATH}"
    finally:
        await runner.cleanup()
