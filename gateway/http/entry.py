"""Where every inference route starts: a call context with the caller authenticated, and the body read."""

from __future__ import annotations

import asyncio

from aiohttp import web

from ..answer import start_call
from ..errors import InvalidRequest, RequestTimeout
from ..keys import INFLATIONS, SETTINGS
from .bodies import inflate

__all__ = ["read_body", "start_call"]  # start_call lives in answer (the plugin API has it too)


async def read_body(request: web.Request) -> bytes:
    """The request body, inflated if it came compressed, within `client.body_timeout_in_seconds` and
    `client.max_request_body_size_mb` (after inflation); 400, 408, 413 or 415 otherwise."""
    headers = request.headers
    content_type = headers.get("Content-Type", "")
    if content_type and "json" not in content_type:
        raise InvalidRequest(f"Content-Type must be application/json, not {content_type!r}")
    if request.content.is_eof():  # the usual case: the whole body came with the head, no wait and no timer
        body = await request.read()
    else:
        body = await _read_slow_body(request)
    encoding = headers.get("Content-Encoding")
    if encoding is None or encoding.strip().lower() in ("", "identity"):
        return body
    limit = request.app[SETTINGS].client.max_request_body_size_mb * 1024 * 1024
    return await inflate(body, encoding.strip().lower(), limit, request.app[INFLATIONS])


async def _read_slow_body(request: web.Request) -> bytes:
    """A body still arriving after its head, within `client.body_timeout_in_seconds` (else 408)."""
    timeout = request.app[SETTINGS].client.body_timeout_in_seconds
    try:
        async with asyncio.timeout(timeout):
            return await request.read()
    except TimeoutError:
        raise RequestTimeout(f"the request body did not arrive within {timeout:g}s") from None
