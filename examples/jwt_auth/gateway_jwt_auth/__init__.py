"""JWT / OIDC authentication: a bearer JWT, checked against the issuer's JWKS (or a PEM key, or a shared secret),
becomes the call's principal (id from `sub`, a name, a team from a claim of your choice).

Config: {"plugins": [{"name": "jwt_auth", "config": {"enabled": true,
         "jwks_url": "https://login.example.com/.well-known/jwks.json", "issuer": "https://login.example.com/",
         "audience": "llm-gateway", "team_claim": "team", "required": true}}]}

Bearer values that are not JWTs (a virtual key, say) go on to the next authenticator unless `required`.
Authentication that fails raises AuthenticationFailed: the client gets a 401 in its own dialect (the deny
short-circuit). Hooks are added only when enabled.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from gateway.api import (
    AuthenticationFailed,
    CallContext,
    ConfigRegistry,
    Principal,
    add_hooks,
    hookimpl,
    plugin_config,
    remove_hooks,
)

from .config import JwtConfig
from .verify import Verifier

HOOKS_NAME = "jwt_auth.hooks"
BEARER = "bearer "


@hookimpl
def gw_register_config(registry: ConfigRegistry) -> None:
    registry.add("jwt_auth", JwtConfig)


@hookimpl
def gw_lifespan(app: web.Application) -> contextlib.AbstractAsyncContextManager[None] | None:
    config = plugin_config(app, JwtConfig)
    return _checking(app, JwtHooks(Verifier(config), config)) if config.enabled else None


@contextlib.asynccontextmanager
async def _checking(app: web.Application, hooks: JwtHooks) -> AsyncIterator[None]:
    add_hooks(app, hooks, HOOKS_NAME)
    try:
        yield
    finally:
        remove_hooks(app, HOOKS_NAME)


class JwtHooks:
    def __init__(self, verifier: Verifier, config: JwtConfig) -> None:
        self._verifier = verifier
        self._required = config.required

    @hookimpl(tryfirst=True)
    async def gw_authenticate(self, request: web.Request, ctx: CallContext) -> Principal | None:
        token = _bearer_jwt(request)
        if token is None:
            if self._required:
                raise AuthenticationFailed("a bearer JWT is required (Authorization: Bearer <token>)")
            return None
        return await self._verifier.principal(token)


def _bearer_jwt(request: web.Request) -> str | None:
    """The bearer token if it is shaped like a JWT (three base64url parts), else None."""
    authorization = request.headers.get("Authorization", "")
    if authorization[: len(BEARER)].lower() != BEARER:
        return None
    token = authorization[len(BEARER) :].strip()
    return token if token.count(".") == 2 and not token.startswith("sk-") else None
