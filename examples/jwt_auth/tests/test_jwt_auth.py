"""The JWT authenticator, installed from its own package and loaded by its entry point, tested with
gateway.testing against a JWKS server of its own on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import jwt
import openai
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.api import CallContext, ConfigError, Principal, hookimpl
from gateway.testing import MakeGateway

HI: list[anthropic.types.MessageParam] = [{"role": "user", "content": "hi"}]
ISSUER, AUDIENCE = "https://login.example.test/", "llm-gateway"


class Jwks:
    """An identity provider's key set, served on 127.0.0.1; keys can be rotated in."""

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.served = 0
        self.url = ""

    def add_key(self, kid: str) -> rsa.RSAPrivateKey:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return self.keys[kid]

    def token(self, kid: str = "k1", **claims: Any) -> str:
        body = {"sub": "alice", "name": "Alice", "team": "eng", "iss": ISSUER, "aud": AUDIENCE}
        body |= {"exp": int(time.time()) + 300} | claims
        return jwt.encode(body, self.keys[kid], algorithm="RS256", headers={"kid": kid})

    async def handle(self, request: web.Request) -> web.Response:
        self.served += 1
        keys = [jwt.algorithms.RSAAlgorithm.to_jwk(k.public_key(), as_dict=True) | {"kid": kid, "use": "sig"}
                for kid, k in self.keys.items()]  # fmt: skip
        return web.json_response({"keys": keys})


@pytest.fixture
async def jwks() -> AsyncIterator[Jwks]:
    provider = Jwks()
    provider.add_key("k1")
    app = web.Application()
    app.router.add_get("/jwks.json", provider.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    provider.url = f"http://127.0.0.1:{runner.addresses[0][1]}/jwks.json"
    yield provider
    await runner.cleanup()


class Seen:
    """Records who each call was authenticated as."""

    def __init__(self) -> None:
        self.principals: list[Principal | None] = []

    @hookimpl
    def gw_authorize(self, ctx: CallContext) -> None:
        self.principals.append(ctx.principal)


def config(**options: Any) -> dict[str, Any]:
    jwt_config = {"enabled": True, "issuer": ISSUER, "audience": AUDIENCE, "team_claim": "team"} | options
    return {"providers": {"mock": {}}, "plugins": [{"name": "jwt_auth", "config": jwt_config}]}


async def test_a_valid_token_becomes_the_principal_in_both_dialects(make_gateway: MakeGateway, jwks: Jwks) -> None:
    seen = Seen()
    gw = await make_gateway(config(jwks_url=jwks.url), [seen])
    token = jwks.token()
    async with gw.anthropic(api_key=token) as claude, gw.openai(api_key=token) as gpt:
        await claude.messages.create(model="mock/m", max_tokens=5, messages=HI)
        await gpt.chat.completions.create(model="mock/m", messages=[{"role": "user", "content": "hi"}])
    alice = Principal(id="alice", name="Alice", kind="jwt", team="eng")
    assert seen.principals == [alice, alice]
    assert jwks.served == 1  # the key set is fetched once, then kept


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"aud": "someone-else"}, "audience"),
        ({"iss": "https://evil.example.test/"}, "issuer"),
        ({"sub": ""}, "'sub' claim"),
    ],
)
async def test_a_token_that_does_not_hold_is_a_401(
    make_gateway: MakeGateway, jwks: Jwks, claims: dict[str, Any], why: str
) -> None:
    gw = await make_gateway(config(jwks_url=jwks.url))
    async with gw.anthropic(api_key=jwks.token(**claims)) as claude:
        with pytest.raises(anthropic.AuthenticationError) as caught:
            await claude.messages.create(model="mock/m", max_tokens=5, messages=HI)
    assert why in str(caught.value).lower()


async def test_a_forged_signature_is_a_401(make_gateway: MakeGateway, jwks: Jwks) -> None:
    gw = await make_gateway(config(jwks_url=jwks.url))
    jwks.add_key("k2")
    forged = jwt.encode(jwt.decode(jwks.token(), options={"verify_signature": False}), jwks.keys["k2"],
                        algorithm="RS256", headers={"kid": "k1"})  # fmt: skip
    async with gw.openai(api_key=forged) as gpt:
        with pytest.raises(openai.AuthenticationError, match="invalid token"):
            await gpt.chat.completions.create(model="mock/m", messages=[{"role": "user", "content": "hi"}])


async def test_a_rotated_key_is_fetched_when_its_id_first_appears(make_gateway: MakeGateway, jwks: Jwks) -> None:
    gw = await make_gateway(config(jwks_url=jwks.url, jwks_refresh_seconds=0.01))
    async with gw.anthropic(api_key=jwks.token()) as claude:
        await claude.messages.create(model="mock/m", max_tokens=5, messages=HI)
    jwks.add_key("k2")
    await asyncio.sleep(0.02)
    async with gw.anthropic(api_key=jwks.token("k2")) as claude:
        await claude.messages.create(model="mock/m", max_tokens=5, messages=HI)
    assert jwks.served == 2


async def test_without_a_token_the_call_goes_on_unless_one_is_required(make_gateway: MakeGateway, jwks: Jwks) -> None:
    seen = Seen()
    open_gw = await make_gateway(config(jwks_url=jwks.url), [seen])
    async with open_gw.anthropic(api_key="not-a-jwt") as claude:
        await claude.messages.create(model="mock/m", max_tokens=5, messages=HI)
    assert seen.principals[0] is not None and seen.principals[0].kind == "client_key"
    closed = await make_gateway(config(jwks_url=jwks.url, required=True))
    async with closed.anthropic(api_key="not-a-jwt") as claude:
        with pytest.raises(anthropic.AuthenticationError, match="bearer JWT is required"):
            await claude.messages.create(model="mock/m", max_tokens=5, messages=HI)


async def test_a_shared_secret_works_too(make_gateway: MakeGateway) -> None:
    secret = "a-long-shared-secret-for-hs256-tokens"
    gw = await make_gateway(config(secret=secret, algorithms=["HS256"], audience=None, issuer=None))
    token = jwt.encode({"sub": "svc-batch", "exp": int(time.time()) + 60}, secret, algorithm="HS256")
    async with gw.anthropic(api_key=token) as claude:
        await claude.messages.create(model="mock/m", max_tokens=5, messages=HI)
    async with gw.anthropic(api_key=jwt.encode({"sub": "x", "exp": 2**31}, "wrong-secret-x" * 3, "HS256")) as claude:
        with pytest.raises(anthropic.AuthenticationError):
            await claude.messages.create(model="mock/m", max_tokens=5, messages=HI)


async def test_an_unreachable_key_set_refuses_calls_rather_than_letting_them_in(make_gateway: MakeGateway) -> None:
    gw = await make_gateway(config(jwks_url="http://127.0.0.1:9/jwks.json"))
    token = jwt.encode({"sub": "a", "exp": 2**31}, "x" * 32, "HS256", headers={"kid": "k1"})
    async with gw.anthropic(api_key=token) as claude:
        with pytest.raises(anthropic.AuthenticationError, match="key set is unavailable"):
            await claude.messages.create(model="mock/m", max_tokens=5, messages=HI)


async def test_enabled_without_a_key_source_is_a_config_error(make_gateway: MakeGateway) -> None:
    with pytest.raises(ConfigError) as caught:
        await make_gateway(config())
    assert caught.value.errors == ["$.plugins[0].config: set exactly one of jwks_url, public_key or secret"]
