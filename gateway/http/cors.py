"""CORS for browser clients, from `client.allowed_origins` (Bifrost's field): `["*"]`, exact origins, or
subdomain patterns (`https://*.example.com`).

A small middleware and a response-prepare signal rather than `aiohttp-cors`: that package wants every route
registered with it (plugins add routes of their own), refuses an unlisted origin's preflight with a bare text
403 instead of an error in the client's dialect, and adds nothing to a 404. Here one rule covers every route,
errors and streams included, because the signal runs for every response the app prepares.

- A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) from an allowed origin gets a 204 that
  allows the method, echoes the requested headers (the SDKs send x-api-key, anthropic-version, anthropic-beta,
  authorization, x-stainless-*, ...) and may be cached for a day; from another origin, a 403.
- Every other answer to an allowed origin names it (or `*`) and exposes its own headers (request ids,
  retry-after, x-bf-*, rate-limit headers), so a page's script can read them.
- An origin not listed gets no CORS headers (the browser then blocks the page), and the request is still served:
  CORS protects browser users, it does not authenticate anyone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from aiohttp import hdrs, web

from ..errors import PermissionDenied
from .middlewares import Handler

ALLOWED_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
MAX_AGE_S = "86400"
# Response headers a script may read without being exposed (the Fetch standard's safelist), and ones that say
# nothing to a script; every other header of an answer is exposed.
_NOT_EXPOSED = frozenset(
    {
        "cache-control",
        "content-language",
        "content-length",
        "content-type",
        "expires",
        "last-modified",
        "pragma",
        "date",
        "server",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "vary",
    }
)


# `https://*.example.com`: any subdomain (one label or more) of example.com, on that scheme (and port, if given).
_PATTERN = re.compile(r"[a-z][a-z0-9+.-]*://\*\.[^*/]+")
_LABELS = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)*")


class Cors:
    """The configured origins and the rules above."""

    def __init__(self, origins: Iterable[str]) -> None:
        listed = [origin.rstrip("/").lower() for origin in origins]
        self.any = "*" in listed
        self.origins = frozenset(origin for origin in listed if origin != "*")
        # ("https://", ".example.com") for each subdomain pattern
        self.patterns = tuple(tuple(o.split("*.", 1)) for o in listed if _PATTERN.fullmatch(o))

    def allow_origin(self, origin: str | None) -> str | None:
        """The access-control-allow-origin value for a request's Origin, or None when it is not allowed."""
        if not origin:
            return None
        if self.any:
            return "*"
        lowered = origin.lower()
        if lowered in self.origins:
            return origin
        for head, tail in self.patterns:
            if lowered.startswith(head) and lowered.endswith("." + tail):
                if _LABELS.fullmatch(lowered[len(head) : -len(tail) - 1]):
                    return origin
        return None

    async def preflight(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The middleware's work: answer a preflight, pass everything else on."""
        if request.method != hdrs.METH_OPTIONS or hdrs.ACCESS_CONTROL_REQUEST_METHOD not in request.headers:
            return await handler(request)
        origin = request.headers.get(hdrs.ORIGIN)
        allowed = self.allow_origin(origin)
        if allowed is None:
            raise PermissionDenied(f"origin {origin!r} is not allowed (client.allowed_origins)")
        response = web.Response(status=204)
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_METHODS] = ALLOWED_METHODS
        requested = request.headers.get(hdrs.ACCESS_CONTROL_REQUEST_HEADERS, "").strip()
        if requested:
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_HEADERS] = requested
        response.headers[hdrs.ACCESS_CONTROL_MAX_AGE] = MAX_AGE_S
        return response

    async def on_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        """Every answer (errors and streams too): the allowed origin, and which of its headers a script may read."""
        if not self.any:  # the answer depends on the Origin: a cache must not give one origin's to another
            vary = response.headers.get(hdrs.VARY)
            if vary is None:
                response.headers[hdrs.VARY] = hdrs.ORIGIN
            elif "origin" not in vary.lower():
                response.headers[hdrs.VARY] = f"{vary}, {hdrs.ORIGIN}"
        allowed = self.allow_origin(request.headers.get(hdrs.ORIGIN))
        if allowed is None:
            return
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = allowed
        if request.method == hdrs.METH_OPTIONS:
            return
        exposed = sorted({name.lower() for name in response.headers} - _NOT_EXPOSED)
        exposed = [name for name in exposed if not name.startswith("access-control-")]
        if exposed:
            response.headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = ", ".join(exposed)


def install_cors(app: web.Application, origins: list[str]) -> None:
    """Answer browsers from `origins` (nothing changes when it is empty: no CORS headers, OPTIONS is a 405)."""
    if not origins:
        return
    cors = Cors(origins)

    @web.middleware
    async def preflight(request: web.Request, handler: Handler) -> web.StreamResponse:
        return await cors.preflight(request, handler)

    app.middlewares.append(preflight)
    app.on_response_prepare.append(cors.on_prepare)
