"""Default authentication: any key the client sends (x-api-key or Authorization: Bearer) identifies it.

It is never checked here and never forwarded upstream; it only tells a keyed caller from an anonymous one,
which `client.enforce_auth_on_inference` relies on. A key-checking plugin (virtual keys) runs before this one.
"""

from __future__ import annotations

import hashlib

from aiohttp import web

from gateway import CallContext, Principal, hookimpl

BEARER = "bearer "


def client_key(request: web.Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key
    authorization = request.headers.get("Authorization", "")
    if authorization[: len(BEARER)].lower() == BEARER and authorization[len(BEARER) :].strip():
        return authorization[len(BEARER) :].strip()
    return None


@hookimpl(trylast=True)
def gw_authenticate(request: web.Request, ctx: CallContext) -> Principal | None:
    key = client_key(request)
    if key is None:
        return None
    # An id derived from the key, so logs can tell callers apart without holding the key itself.
    # surrogateescape: aiohttp decodes header bytes that are not UTF-8 that way; they are still a key.
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()
    return Principal(id="key_" + digest[:16], kind="client_key")
