"""The response cache with governance: tenants (virtual keys) never share entries, a hit is not charged to any
budget; and the admin routes that clear entries."""

from __future__ import annotations

import functools

import pytest

from gateway.testing import (
    FakeUpstream,
    Reply,
    anthropic_message,
    anthropic_usage,
    assert_anthropic_error,
    assert_openai_error,
)
from tests.conftest import MakeGateway
from tests.http.governance_helpers import CLAUDE, VK_A, VK_B, bearer, budget, config, settled, used, vk

from .helpers import ADMIN, KEY, UP_MESSAGES, ask_claude, stored

CACHE = [{"name": "semantic_cache", "config": {}}]
ask = functools.partial(ask_claude, model=CLAUDE)  # provider/model: virtual keys may route a bare one elsewhere


def governed(url: str) -> dict[str, object]:
    keys = [vk("vk-a", VK_A, budgets=[budget(100.0)]), vk("vk-b", VK_B)]
    return {**config(url, *keys, admin=ADMIN), "plugins": CACHE}


async def test_tenants_do_not_share_entries(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(UP_MESSAGES, *(Reply.json(anthropic_message(f"answer {n}")) for n in range(3)))
    gw = await make_gateway(governed(fake_upstream.url))
    async with gw.http(None) as http:
        a_first = await ask(http, headers=bearer(VK_A))
        await stored(gw, 1)
        b_first = await ask(http, headers=bearer(VK_B))  # same cache key, another tenant: a miss
        await stored(gw, 2)
        anonymous = await ask(http)  # no key at all: a tenant of its own
        a_again = await ask(http, headers=bearer(VK_A))
        b_again = await ask(http, headers=bearer(VK_B))
    texts = [answer.json()["content"][0]["text"] for answer in (a_first, b_first, anonymous, a_again, b_again)]
    assert texts == ["answer 0", "answer 1", "answer 2", "answer 0", "answer 1"]
    assert [a.headers.get("x-bf-cache-hit") for a in (b_first, anonymous, a_again)] == [None, None, "direct"]
    assert len(fake_upstream.requests_to(UP_MESSAGES)) == 3


async def test_a_hit_is_not_charged_to_the_budget(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    usage = anthropic_usage(1000, 500)
    fake_upstream.script(UP_MESSAGES, Reply.json(anthropic_message("paid once", usage=usage)))
    gw = await make_gateway(governed(fake_upstream.url))
    async with gw.http(None) as http:
        await ask(http, headers=bearer(VK_A))  # a model with a price
        await settled(gw)
        await stored(gw, 1)
        spent = used(gw, "budget:vk:vk-a:0")
        hits = [await ask(http, headers=bearer(VK_A)) for _ in range(3)]
        await settled(gw)
    assert spent > 0
    assert [hit.json()["usage"]["input_tokens"] for hit in hits] == [1000] * 3  # the cached usage, reported
    assert used(gw, "budget:vk:vk-a:0") == spent


async def test_a_hit_counts_against_the_request_rate_limit(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    """Two requests a minute for the key: the call and one hit go through, the next hit is a 429 like any call."""
    fake_upstream.script(UP_MESSAGES, Reply.json(anthropic_message("counted")))
    limit = {"request_max_limit": 2, "request_reset_duration": "1m"}
    cfg = {**config(fake_upstream.url, vk("vk-a", VK_A, rate_limit=limit), admin=ADMIN), "plugins": CACHE}
    gw = await make_gateway(cfg)
    async with gw.http(None) as http:
        first = await ask(http, headers=bearer(VK_A))
        await stored(gw, 1)
        hit = await ask(http, headers=bearer(VK_A))
        refused = await ask(http, headers=bearer(VK_A))
    assert first.status == 200 and hit.headers.get("x-bf-cache-hit") == "direct"
    assert_anthropic_error(refused, 429, "rate_limit_error", "request rate limit")
    assert len(fake_upstream.requests_to(UP_MESSAGES)) == 1


async def test_clear_by_id_and_by_key(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("fresh")))
    gw = await make_gateway(governed(fake_upstream.url))
    admin = bearer(ADMIN)
    async with gw.http(None) as http:
        await ask(http, "one")
        await ask(http, "two")
        await ask(http, "three", headers={"x-bf-cache-key": "other"})
        await stored(gw, 3)
        hit = await ask(http, "one")
        cache_id = hit.headers["x-bf-cache-id"]
        cleared = await http.request("DELETE", f"/api/cache/clear/{cache_id}", headers=admin)
        again = await http.request("DELETE", f"/api/cache/clear/{cache_id}", headers=admin)
        one = await ask(http, "one")  # a miss: stored again
        await stored(gw, 4)
        by_key = await http.request("DELETE", f"/api/cache/clear-by-key/{KEY['x-bf-cache-key']}", headers=admin)
        after = [await ask(http, "one"), await ask(http, "two")]
        other = await ask(http, "three", headers={"x-bf-cache-key": "other"})
    assert cleared.status == 200, cleared
    assert_openai_error(again, 404, "not_found_error", "no cache entry")
    assert "x-bf-cache-hit" not in one.headers
    assert by_key.status == 200, by_key
    assert [a.headers.get("x-bf-cache-hit") for a in after] == [None, None]
    assert other.headers["x-bf-cache-hit"] == "direct"  # another cache key: untouched


@pytest.mark.parametrize("token", [None, "wrong-token", VK_A])
async def test_clear_routes_need_the_admin_token(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, token: str | None
) -> None:
    gw = await make_gateway(governed(fake_upstream.url))
    async with gw.http(None) as http:
        by_key = await http.request(
            "DELETE", "/api/cache/clear-by-key/team-docs", headers=bearer(token) if token else None
        )
        by_id = await http.request("DELETE", "/api/cache/clear/abc", headers=bearer(token) if token else None)
    assert_openai_error(by_key, 401, "authentication_error", "admin token")
    assert_openai_error(by_id, 401, "authentication_error", "admin token")
    assert ADMIN not in by_key.body.decode()
