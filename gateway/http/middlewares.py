"""The one place where errors become HTTP answers, in the dialect of the route that was called."""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable

from aiohttp import web

from ..answer import new_request_id
from ..dialects.base import ClientDialect
from ..dialects.registry import ANTHROPIC, BY_NAME, OPENAI
from ..errors import GatewayError, NotFound, RequestTooLarge, kind_for_status
from ..keys import ERROR_DIALECT, REDACTOR, REQUEST_ID

log = logging.getLogger("gateway.http")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def dialect_of(request: web.Request) -> ClientDialect:
    """Anthropic for /anthropic/... and /v1/messages...; /v1/models by its anthropic-version header."""
    path = request.path
    if path.startswith(("/anthropic/", "/v1/messages", "/v1/async/messages")):
        return ANTHROPIC
    if path.startswith("/v1/models") and "anthropic-version" in request.headers:
        return ANTHROPIC
    return OPENAI


def _dialect(request: web.Request) -> ClientDialect:
    """The dialect a route chose for its errors (ERROR_DIALECT), else the one its path implies."""
    chosen = request.get(ERROR_DIALECT)
    return BY_NAME[chosen] if chosen is not None else dialect_of(request)


def route_prefix(request: web.Request) -> str:
    """Which provider a bare model name defaults to: "anthropic", "openai", or "" on the bare /v1 routes.

    /v1/messages is the alias of /anthropic/v1/messages (what ANTHROPIC_BASE_URL=http://host:8080 reaches),
    so a bare Claude model there goes to `anthropic`, as Claude Code expects.
    """
    path = request.path
    if path.startswith(("/anthropic/", "/v1/messages", "/v1/async/messages")):
        return "anthropic"
    if path.startswith("/openai/"):
        return "openai"
    return ""


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = new_request_id()
    request[REQUEST_ID] = request_id
    # The answer is built inside each `except`, so that the error's traceback (and the frames it holds, a request
    # body among them) is freed before the answer is sent; the dialect is read after the handler ran, which may
    # have chosen one (ERROR_DIALECT).
    try:
        response = await handler(request)
    except GatewayError as exc:
        response = error_response(_dialect(request), request.app[REDACTOR].error(exc), request_id)
    except web.HTTPException as exc:
        response = error_response(_dialect(request), _from_http_exception(exc, request), request_id)
    except Exception:
        log.exception("unhandled error in request %s %s (%s)", request.method, request.path, request_id)
        response = error_response(_dialect(request), GatewayError("internal error in the gateway"), request_id)
    dialect = _dialect(request)
    if not response.prepared:
        response.headers.setdefault(dialect.request_id_header, request_id)
        if response.status >= 400 and not request.content.at_eof():
            response.force_close()  # the body was not read (too slow, too big): nothing left to wait for
    return response


def error_response(dialect: ClientDialect, exc: GatewayError, request_id: str) -> web.Response:
    headers = {dialect.request_id_header: request_id}
    if exc.retry_after is not None:
        # Both SDKs prefer retry-after-ms; retry-after (whole seconds, rounded up) serves every other client.
        headers["retry-after-ms"] = str(max(int(exc.retry_after * 1000), 0))
        headers["retry-after"] = str(max(math.ceil(exc.retry_after), 0))
    return web.Response(
        status=dialect.error_status(exc),
        body=dialect.error_body(exc, request_id),
        content_type="application/json",
        headers=headers,
    )


def _from_http_exception(exc: web.HTTPException, request: web.Request) -> GatewayError:
    if exc.status == 404:
        return NotFound(f"route not found: {request.method} {request.path}")
    if exc.status == 413:
        return RequestTooLarge(f"request body is too large: {exc.text}")
    return GatewayError(exc.reason or exc.text or "error", status=exc.status, kind=kind_for_status(exc.status))
