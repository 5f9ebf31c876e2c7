"""`GET /api/providers/health` and dead-key marks across calls: a key an upstream refused is skipped by later calls
while another is live, comes back after its cooldown, and the health answer shows it all by key name only. And the
admin credentials are one throttled check across every admin route."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from gateway.api import ADMIN as ADMIN_STATE
from gateway.keys import ENGINE
from gateway.providers.health import DEAD_FOR_S
from gateway.testing import FakeUpstream, Http, Reply, assert_openai_error, openai_completion
from tests.conftest import MakeGateway
from tests.http.governance_helpers import ADMIN, FakeClock, bearer
from tests.http.test_resilience import CHAT, chat, keys_used, openai_like

HEALTH = "/api/providers/health"


def gateway_config(url: str, **auth: Any) -> dict[str, Any]:
    keys = [{"name": "k1", "value": "sk-one-secret"}, {"name": "k2", "value": "sk-two-secret"}]
    return {
        "providers": {"up": openai_like(url, keys, max_retries=0)},
        "governance": {"auth_config": {"admin_token": ADMIN, **auth}},
        "plugins": [{"name": "logging"}, {"name": "metrics"}],
    }


async def health(raw: Http) -> dict[str, Any]:
    answer = await raw.request("GET", HEALTH, headers=bearer(ADMIN))
    assert answer.status == 200, answer
    return {p["name"]: p for p in answer.json()["providers"]}


def by_name(provider: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k["name"]: k for k in provider["keys"]}


async def test_a_refused_key_is_skipped_by_later_calls_until_its_cooldown_ends(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    echo = "invalid key sk-one-secret"  # an upstream that echoes the key it was sent
    fake_upstream.script(CHAT, Reply.error(401, "invalid_api_key", echo, dialect="openai"))
    fake_upstream.default(CHAT, Reply.json(openai_completion("ok")))
    gw = await make_gateway(gateway_config(fake_upstream.url))
    clock = FakeClock(1000.0)
    gw.app[ENGINE].providers.health.set_clock(clock)
    assert (await chat(gw.url))[0] == 200
    refused_value = keys_used(fake_upstream)[0]
    refused = "k1" if refused_value == "sk-one-secret" else "k2"
    live = "k2" if refused == "k1" else "k1"
    for _ in range(12):
        assert (await chat(gw.url))[0] == 200
    assert refused_value not in keys_used(fake_upstream)[2:]  # later calls never paid the refused round trip

    async with gw.http(None) as raw:
        up = (await health(raw))["up"]
        keys = by_name(up)
        assert keys[refused]["state"] == "dead" and keys[refused]["last_status"] == 401
        assert keys[refused]["dead_until"] is not None and keys[refused]["errors"] == 1
        assert keys[live] == {**keys[live], "state": "live", "errors": 0, "calls": 13, "dead_until": None}
        assert (up["calls"], up["errors"], up["in_flight"], up["waiting"]) == (14, 1, 0, 0)
        assert up["last_error"].startswith("authentication_error") or up["last_error"].startswith("permission")
        answer = await raw.request("GET", HEALTH, headers=bearer(ADMIN))
        assert b"sk-one-secret" not in answer.body and b"sk-two-secret" not in answer.body

        clock.advance(DEAD_FOR_S + 1)
        assert by_name((await health(raw))["up"])[refused]["state"] == "live"
    for _ in range(30):
        assert (await chat(gw.url))[0] == 200
    assert refused_value in keys_used(fake_upstream)[14:]  # back in the rotation (1 in 2**29 to miss by chance)


async def test_when_every_key_is_marked_dead_the_next_call_still_tries_them(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    refused = Reply.error(403, "permission_denied", "no", dialect="openai")
    fake_upstream.script(CHAT, refused, refused)
    fake_upstream.default(CHAT, Reply.json(openai_completion("restored")))
    gw = await make_gateway(gateway_config(fake_upstream.url))
    assert (await chat(gw.url))[0] == 502
    async with gw.http(None) as raw:
        assert {k["state"] for k in (await health(raw))["up"]["keys"]} == {"dead"}
        status, body, _ = await chat(gw.url)
        assert (status, body["choices"][0]["message"]["content"]) == (200, "restored")
        assert {k["state"] for k in (await health(raw))["up"]["keys"]} == {"dead", "live"}


async def test_health_shows_the_concurrency_in_use(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.default(CHAT, Reply.json(openai_completion("slow"), delay=0.6))
    gw = await make_gateway(gateway_config(fake_upstream.url))
    async with gw.http(None) as raw:
        calls = [asyncio.create_task(chat(gw.url)) for _ in range(3)]
        deadline = asyncio.get_running_loop().time() + 5
        while (await health(raw))["up"]["in_flight"] < 3:
            assert asyncio.get_running_loop().time() < deadline, "three calls never showed as in flight"
            await asyncio.sleep(0.02)
        assert [status for status, _, _ in await asyncio.gather(*calls)] == [200, 200, 200]
        up = (await health(raw))["up"]
        assert (up["in_flight"], up["concurrency"] > 0, up["buffer_size"] > 0) == (0, True, True)


async def test_health_needs_the_admin_credentials(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    gw = await make_gateway(
        gateway_config(fake_upstream.url, admin_username="ops", admin_password="pw", is_enabled=True)
    )
    basic = "Basic " + base64.b64encode(b"ops:pw").decode()
    async with gw.http(None) as raw:
        for headers in ({}, bearer("wrong"), {"Authorization": ADMIN}):
            assert_openai_error(await raw.request("GET", HEALTH, headers=headers), 401, "authentication_error")
        assert (await raw.request("GET", HEALTH, headers={"Authorization": basic})).status == 200


async def test_failed_logins_are_counted_across_every_admin_route(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    gw = await make_gateway(gateway_config(fake_upstream.url))
    clock = FakeClock()
    gw.app[ADMIN_STATE].set_clock(clock)
    routes = [HEALTH, "/api/logs", "/metrics", "/api/governance/virtual-keys"]
    async with gw.http(None) as raw:
        for guess in range(10):  # the guesses spread over the routes
            answer = await raw.request("GET", routes[guess % 4], headers=bearer(f"guess-{guess}"))
            assert answer.status == 401, answer
        for route in routes:  # every route now refuses the address, the right token included
            throttled = await raw.request("GET", route, headers=bearer(ADMIN))
            assert_openai_error(throttled, 429, "rate_limit_error", "too many failed admin logins")
        clock.advance(61)
        for route in routes:
            assert (await raw.request("GET", route, headers=bearer(ADMIN))).status == 200
