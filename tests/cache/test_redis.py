"""The cache's Redis store (aiocache's Redis backend) against a real redis-server: entries shared by two gateway
processes' worth of apps, expiring in Redis, cleared by key; and Redis going down is a miss, never an error."""

from __future__ import annotations

import logging

import pytest
import redis.asyncio as redis_client

from gateway.testing import FakeUpstream, Reply, anthropic_message, openai_completion
from tests.conftest import MakeGateway

from .helpers import ADMIN, KEY, UP_CHAT, UP_MESSAGES, ask_claude, ask_gpt, cache_config, stored
from .redis_server import RedisServer


def on_redis(url: str, server: RedisServer, **config: object) -> dict[str, object]:
    return cache_config(url, cache_store={"type": "redis", "config": {"addr": server.url}}, **config)


async def test_two_gateways_share_entries_through_redis(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, redis: RedisServer
) -> None:
    fake_upstream.script(UP_MESSAGES, Reply.json(anthropic_message("from redis")))
    first = await make_gateway(on_redis(fake_upstream.url, redis, ttl="2m"))
    second = await make_gateway(on_redis(fake_upstream.url, redis))
    async with first.http() as http:
        await ask_claude(http)
    await stored(first, 1)
    async with second.http() as http:
        hit = await ask_claude(http)
    assert hit.headers["x-bf-cache-hit"] == "direct"
    assert hit.json()["content"][0]["text"] == "from redis"
    client = redis_client.Redis(port=redis.port)
    try:
        keys = await client.keys("BifrostSemanticCachePlugin:*")
        assert len(keys) == 1
        assert 100 < await client.ttl(keys[0]) <= 120  # the entry's TTL is Redis's own
        async with second.http() as http:
            cleared = await http.request(
                "DELETE",
                f"/api/cache/clear-by-key/{KEY['x-bf-cache-key']}",
                headers={"Authorization": f"Bearer {ADMIN}"},
            )
        assert cleared.status == 200
        assert await client.keys("BifrostSemanticCachePlugin:*") == []
    finally:
        await client.aclose()


async def test_redis_down_is_a_miss_and_one_warning(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    fake_upstream.default(UP_CHAT, Reply.json(openai_completion("fresh")))
    gw = await make_gateway(on_redis(fake_upstream.url, redis))
    await redis.stop()
    with caplog.at_level(logging.WARNING, logger="gateway.semantic_cache"):
        async with gw.http() as http:
            answers = [await ask_gpt(http) for _ in range(3)]
    assert [a.status for a in answers] == [200] * 3
    assert all("x-bf-cache-hit" not in a.headers for a in answers)
    assert len(fake_upstream.requests_to(UP_CHAT)) == 3
    warnings = [r for r in caplog.records if r.name == "gateway.semantic_cache"]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "redis store" in warnings[0].getMessage()
