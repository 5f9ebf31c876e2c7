"""`/api/logs` (a page of rows, newest first), `/api/logs/stats`, `/api/logs/series` (sums per time bucket) and
`/api/logs/stream` (a live tail, SSE). Every route needs the admin credentials (`gateway.api.require_admin`: the
governance admin token as `Bearer`, or its Basic username and password), failed logins throttled."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import msgspec
from aiohttp import web

from gateway.api import SETTINGS, InvalidRequest, Overloaded, require_admin

from .query import GROUPS, matches, parse_filters
from .series import Span, parse_span
from .store import StoreUnavailable
from .writer import RequestLog

BASE = "/api/logs"
LOG = web.AppKey("request_log", RequestLog)
_ENCODER = msgspec.json.Encoder()
KEEPALIVE_SECONDS = 15.0


def add_routes(app: web.Application) -> None:
    app.router.add_get(BASE, _logs)
    app.router.add_get(f"{BASE}/stats", _stats)
    app.router.add_get(f"{BASE}/series", _series)
    app.router.add_get(f"{BASE}/stream", _stream)


def _admin(request: web.Request) -> RequestLog:
    require_admin(request, "the logs API")
    return request.app[LOG]


def _content_logged(request: web.Request) -> bool:
    return not request.app[SETTINGS].client.disable_content_logging


@contextlib.contextmanager
def _reachable() -> Iterator[None]:
    """A store that cannot be reached now (PostgreSQL down) is a 503 to retry, not a 500."""
    try:
        yield
    except StoreUnavailable:
        message = "the request log's database cannot be reached now; try again shortly"
        raise Overloaded(message, status=503, retry_after=1.0) from None


def _json(data: object) -> web.Response:
    return web.Response(body=_ENCODER.encode(data), content_type="application/json")


async def _logs(request: web.Request) -> web.Response:
    log = _admin(request)
    with _reachable():
        return _json(await log.store.page(parse_filters(request.query, _content_logged(request))))


async def _stats(request: web.Request) -> web.Response:
    log = _admin(request)
    by = request.query.get("group_by", "provider")
    if by not in GROUPS:
        raise InvalidRequest(f"group_by: must be one of {', '.join(GROUPS)}", param="group_by")
    filters = parse_filters(request.query, _content_logged(request))
    with _reachable():
        return _json({"group_by": by, "data": await log.store.stats(filters, by)})


async def _series(request: web.Request) -> web.Response:
    """Per bucket of `since`..`until`, and over the whole range (`total`): requests, errors, latency p50/p99,
    overhead p50, cost and tokens (the filters of /api/logs but time and text apply)."""
    log = _admin(request)
    span = parse_span(request.query, log.store.clock())
    filters = parse_filters(request.query, _content_logged(request))
    filters = msgspec.structs.replace(filters, search=None)
    with _reachable():
        data = await log.store.series(span, filters)
        whole = await log.store.series(Span(span.since, span.until, span.until - span.since), filters)
    return _json({"since": span.since, "until": span.until, "bucket": span.bucket, "total": whole[0], "data": data})


async def _stream(request: web.Request) -> web.StreamResponse:
    """Each row as it is written (that passes /api/logs' filters: provider, model, virtual_key, status,
    min_latency_ms, min_cost), one SSE `data:` frame a row; a comment line now and then keeps proxies from
    closing a quiet stream. Rows a client is too slow for are skipped (see writer.TAIL_BACKLOG)."""
    log = _admin(request)
    filters = parse_filters(request.query, _content_logged(request))
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    tail = log.subscribe()
    try:
        await response.write(b": tailing\n\n")
        while True:
            try:
                row = await asyncio.wait_for(tail.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if matches(row, filters):
                await response.write(b"data: " + _ENCODER.encode(row) + b"\n\n")
    except ConnectionResetError:  # the client left
        pass
    finally:
        log.unsubscribe(tail)
    return response
