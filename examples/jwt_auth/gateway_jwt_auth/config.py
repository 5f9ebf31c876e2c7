"""The authenticator's config (`plugins[].config` of the entry named "jwt_auth")."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, field

from gateway.api import ConfigStruct


class JwtConfig(ConfigStruct, frozen=True):
    enabled: bool = False
    jwks_url: str | None = None  # the issuer's JSON Web Key Set (OIDC: the `jwks_uri` of its discovery document)
    public_key: str | None = None  # or one PEM public key (RS256, ES256, ...)
    secret: str | None = None  # or a shared secret (HS256); "env.NAME" keeps it out of the file
    algorithms: list[str] = field(default_factory=lambda: ["RS256"])
    issuer: str | None = None  # checked when set (the `iss` claim)
    audience: str | None = None  # checked when set (the `aud` claim)
    leeway_seconds: Annotated[float, Meta(ge=0)] = 30.0  # clock skew allowed for exp / nbf
    required: bool = False  # refuse calls without a JWT (otherwise they go to the next authenticator)
    subject_claim: str = "sub"  # the principal's id
    name_claim: str = "name"
    team_claim: str | None = None  # e.g. "team", or "org_id"
    jwks_refresh_seconds: Annotated[float, Meta(gt=0)] = 300.0  # how often an unknown key id may refetch the set

    def __post_init__(self) -> None:
        if self.enabled and sum(x is not None for x in (self.jwks_url, self.public_key, self.secret)) != 1:
            raise ValueError("set exactly one of jwks_url, public_key or secret")
