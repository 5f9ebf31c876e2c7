"""Checking a token: its signature (a JWKS key by `kid`, a PEM key or a secret), expiry, issuer and audience."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import jwt

from gateway.api import AuthenticationFailed, Principal

from .config import JwtConfig


class Verifier:
    def __init__(self, config: JwtConfig) -> None:
        self._config = config
        self._jwks = jwt.PyJWKClient(config.jwks_url, cache_keys=True) if config.jwks_url else None
        self._keys: dict[str, Any] = {}  # kid -> key, from the JWKS
        self._fetched = 0.0

    async def principal(self, token: str) -> Principal:
        """The caller the token names; AuthenticationFailed (401) when it does not hold."""
        config = self._config
        try:
            claims = jwt.decode(
                token,
                await self._key(token),
                algorithms=config.algorithms,
                issuer=config.issuer,
                audience=config.audience,
                leeway=config.leeway_seconds,
                options={"require": ["exp"], "verify_aud": config.audience is not None},
            )
        except jwt.PyJWTError as exc:
            raise AuthenticationFailed(f"invalid token: {exc}") from None
        subject = claims.get(config.subject_claim)
        if not isinstance(subject, str) or not subject:
            raise AuthenticationFailed(f"invalid token: no {config.subject_claim!r} claim")
        team = claims.get(config.team_claim) if config.team_claim else None
        name = claims.get(config.name_claim)
        return Principal(
            id=subject, name=name if isinstance(name, str) else "", kind="jwt", team=str(team) if team else None
        )

    async def _key(self, token: str) -> Any:
        config = self._config
        if config.secret is not None:
            return config.secret
        if config.public_key is not None:
            return config.public_key
        try:
            kid = jwt.get_unverified_header(token).get("kid", "")
        except jwt.PyJWTError as exc:
            raise AuthenticationFailed(f"invalid token: {exc}") from None
        if kid not in self._keys:
            await self._refresh(kid)
        return self._keys[kid]

    async def _refresh(self, kid: str) -> None:
        """Fetch the key set again (off the event loop: PyJWT's client blocks), at most every refresh interval."""
        assert self._jwks is not None
        if time.monotonic() - self._fetched < self._config.jwks_refresh_seconds and self._keys:
            raise AuthenticationFailed("invalid token: unknown key id")
        self._fetched = time.monotonic()
        try:
            keys = await asyncio.to_thread(self._jwks.get_signing_keys, True)
        except jwt.PyJWKClientError as exc:
            raise AuthenticationFailed(f"cannot check the token: the key set is unavailable ({exc})") from None
        self._keys = {key.key_id: key.key for key in keys if key.key_id}
        if kid not in self._keys:
            raise AuthenticationFailed("invalid token: unknown key id")
