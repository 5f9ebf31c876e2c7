"""Admin-API changes reach every gateway process within a second: `gateway serve --workers 2` on one Redis (the
workers share the app dir's store), a virtual key created, disabled, given a budget and deleted through one worker
is in force on fresh connections, which the kernel spreads over both workers. With the subscribers' Redis
connections killed (CLIENT KILL TYPE pubsub), the change made meanwhile is read again when they reconnect."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from gateway.testing import Answer, FakeUpstream, Http, Reply, anthropic_message
from tests.cache.redis_server import RedisServer
from tests.http.governance_helpers import UP_MESSAGES, admin, budget, config
from tests.http.serve_helpers import SUPERVISING, Served, serving, write_config

from .nodes import ask_app

SPREAD = 20  # fresh connections per check: all on one worker has odds 2^-19
IN_FORCE_S = 1.0
SEEN_TIMEOUT_S = 30.0


@pytest.fixture
async def workers(tmp_path: Path, fake_upstream: FakeUpstream, redis: RedisServer) -> AsyncIterator[Served]:
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("ok")))
    settings = {**config(fake_upstream.url), "redis": {"url": redis.url, "timeout_in_seconds": 2.0}}
    path = write_config(tmp_path / "c.json", settings)
    async with serving(path, tmp_path / "app", tmp_path / "log", "--workers", "2", ready=SUPERVISING) as served:
        await _both_ready(served.url)
        yield served


async def _both_ready(url: str) -> None:
    seen: set[int] = set()
    deadline = time.monotonic() + SEEN_TIMEOUT_S
    while len(seen) < 2:
        assert time.monotonic() < deadline, f"only {seen} answered /ready"
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
            async with session.get(url + "/ready") as response:
                if response.status == 200:
                    seen.add((await response.json())["pid"])


async def _statuses(url: str, key: str) -> list[int]:
    """One call with the key on each of SPREAD fresh connections."""

    async def one() -> int:
        async with Http(url, key=None) as http:
            return (await ask_app(http, key)).status

    return list(await asyncio.gather(*(one() for _ in range(SPREAD))))


async def _admin(url: str, method: str, path: str, body: Any = None) -> Answer:
    async with Http(url, key=None) as http:
        answer = await admin(http, method, path, body)
    assert answer.status in (200, 201, 204), answer
    return answer


async def _everywhere(url: str, key: str, status: int, since: float) -> None:
    """A second after the change, every fresh connection sees it."""
    await asyncio.sleep(max(0.0, since + IN_FORCE_S - time.monotonic()))
    assert await _statuses(url, key) == [status] * SPREAD


async def test_a_key_created_disabled_limited_and_deleted_on_one_worker_is_in_force_on_all(workers: Served) -> None:
    url = workers.url
    created = await _admin(url, "POST", "/virtual-keys", {"name": "shared", "provider_configs": _anthropic()})
    key, key_id = created.json()["value"], created.json()["id"]
    await _everywhere(url, key, 200, time.monotonic())
    await _admin(url, "PUT", f"/virtual-keys/{key_id}", {"is_active": False})
    await _everywhere(url, key, 403, time.monotonic())
    await _admin(url, "PUT", f"/virtual-keys/{key_id}", {"is_active": True, "budgets": [budget(1e-9)]})
    await _everywhere(url, key, 402, time.monotonic())
    await _admin(url, "PUT", f"/virtual-keys/{key_id}", {"budgets": [budget(100.0)]})
    await _everywhere(url, key, 200, time.monotonic())
    await _admin(url, "DELETE", f"/virtual-keys/{key_id}")
    await _everywhere(url, key, 401, time.monotonic())
    assert "Traceback" not in workers.log_text()


async def test_a_change_missed_while_the_subscription_was_down_is_read_on_reconnect(
    workers: Served, redis: RedisServer
) -> None:
    client = aioredis.from_url(redis.url)
    try:
        killed = await client.client_kill_filter(_type="pubsub")
        assert killed == 2  # one subscriber connection per worker
        start = time.monotonic()  # the workers reconnect after a pause: the message below reaches none of them
        created = await _admin(workers.url, "POST", "/virtual-keys", {"name": "late", "provider_configs": _anthropic()})
        await _everywhere(workers.url, created.json()["value"], 200, start)
    finally:
        await client.aclose()
    await workers.wait_log("the Redis subscription is back")
    assert "lost the Redis subscription (ConnectionError); reconnecting" in workers.log_text()


def _anthropic() -> list[dict[str, Any]]:
    return [{"provider": "anthropic", "allowed_models": ["*"]}]
