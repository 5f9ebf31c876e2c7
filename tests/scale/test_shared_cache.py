"""The response cache on the app's Redis: with a top-level `redis` section and no `cache_store` of its own, an answer
cached by one gateway process is served by another (under the section's `key_prefix`); an explicit memory
`cache_store` keeps each gateway's cache its own."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from gateway.testing import FakeUpstream, Http, MakeGateway, Reply, anthropic_message
from tests.cache.helpers import UP_MESSAGES, ask_claude, cache_config, stored
from tests.cache.redis_server import RedisServer

from .nodes import nodes

STORED_TIMEOUT_S = 5.0


def on_app_redis(upstream_url: str, redis_url: str, **cache: Any) -> dict[str, Any]:
    return {**cache_config(upstream_url, **cache), "redis": {"url": redis_url, "key_prefix": "gw1:"}}


async def _entries(redis: RedisServer, count: int) -> list[bytes]:
    """The cache's keys in Redis, once there are `count` (the store is written after the answer)."""
    client = aioredis.from_url(redis.url)
    deadline = time.monotonic() + STORED_TIMEOUT_S
    try:
        while len(keys := await client.keys("*BifrostSemanticCachePlugin:*")) < count:
            assert time.monotonic() < deadline, keys
            await asyncio.sleep(0.02)
        return [key for key in keys if isinstance(key, bytes)]
    finally:
        await client.aclose()


async def test_an_answer_cached_by_one_node_is_served_by_another(
    tmp_path: Path, fake_upstream: FakeUpstream, redis: RedisServer
) -> None:
    fake_upstream.script(UP_MESSAGES, Reply.json(anthropic_message("cached once")))  # a second call would get a 500
    async with nodes(tmp_path, 2, on_app_redis(fake_upstream.url, "env.REDIS_URL"), redis.url) as (first, second):
        async with Http(first.url, key=None) as http:
            assert (await ask_claude(http)).status == 200
        assert [key.startswith(b"gw1:BifrostSemanticCachePlugin:") for key in await _entries(redis, 1)] == [True]
        async with Http(second.url, key=None) as http:
            hit = await ask_claude(http)
    assert hit.status == 200 and hit.headers["x-bf-cache-hit"] == "direct", hit
    assert hit.json()["content"][0]["text"] == "cached once"
    assert len(fake_upstream.requests_to(UP_MESSAGES)) == 1


async def test_an_explicit_memory_store_stays_local(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, redis: RedisServer
) -> None:
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("fresh")))
    settings = on_app_redis(fake_upstream.url, redis.url, cache_store={"type": "memory"})
    first, second = await make_gateway(settings), await make_gateway(settings)
    async with first.http(None) as http:
        await ask_claude(http)
    await stored(first, 1)
    async with second.http(None) as http:
        missed = await ask_claude(http)
    assert missed.status == 200 and "x-bf-cache-hit" not in missed.headers
    assert len(fake_upstream.requests_to(UP_MESSAGES)) == 2
    async with first.http(None) as http:  # while the first gateway's own memory has it
        assert (await ask_claude(http)).headers["x-bf-cache-hit"] == "direct"
