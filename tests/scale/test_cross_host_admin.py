"""The issue's cross-host case: two gateways with app dirs of their own (as on two hosts), one PostgreSQL config
store and one Redis. A virtual key created through node A's admin API is accepted by node B within a second, a
key disabled on B is refused by A within a second, one deleted on A is refused by B within a second, and a budget
set on one node is in force on the other; the figure asserted is the time B took to see each change."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.testing import Answer, FakeUpstream, Http, Reply, anthropic_message
from tests.cache.redis_server import RedisServer
from tests.cli_helpers import cli_env
from tests.http.async_helpers import free_port, reap, spawn_gateway, wait_healthy
from tests.http.governance_helpers import UP_MESSAGES, admin, budget, config, messages

from .nodes import Node

IN_FORCE_S = 1.0
POLL_S = 0.05


@pytest.fixture
async def two_hosts(
    tmp_path: Path, pg_dsn: str, redis: RedisServer, fake_upstream: FakeUpstream
) -> AsyncIterator[tuple[Node, Node]]:
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("ok")))
    settings = {
        **config(fake_upstream.url),
        "config_store": {"type": "postgres", "config": {"dsn": "env.PG_DSN"}},
        "redis": {"url": "env.REDIS_URL", "timeout_in_seconds": 2.0},
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(settings))
    nodes: list[Node] = []
    try:
        for name in ("a", "b"):
            port, log = free_port(), tmp_path / f"{name}.log"
            env = cli_env(PG_DSN=pg_dsn, REDIS_URL=redis.url)
            nodes.append(
                Node(f"http://127.0.0.1:{port}", log, spawn_gateway(path, port, tmp_path / name, log, env=env))
            )
        for node in nodes:
            await wait_healthy(node.process, node.url, node.log)
        yield nodes[0], nodes[1]
    finally:
        reap([node.process for node in nodes])


async def change(node: Node, method: str, path: str, body: Any = None) -> Answer:
    async with Http(node.url, key=None) as http:
        answer = await admin(http, method, path, body)
    assert answer.status in (200, 201, 204), answer
    return answer


async def seconds_until(node: Node, key: str, status: int) -> float:
    """How long until `node` answers a call with `key` by `status` (polled; fails after IN_FORCE_S)."""
    started = time.monotonic()
    async with Http(node.url, key=None) as http:
        while (got := (await messages(http, key)).status) != status:
            assert time.monotonic() - started < IN_FORCE_S, f"still {got}, not {status}, after {IN_FORCE_S} s"
            await asyncio.sleep(POLL_S)
    return time.monotonic() - started


async def test_admin_api_changes_on_one_host_are_in_force_on_the_other_within_a_second(
    two_hosts: tuple[Node, Node],
) -> None:
    a, b = two_hosts
    providers = [{"provider": "anthropic", "allowed_models": ["*"]}]
    created = await change(a, "POST", "/virtual-keys", {"name": "cross-host", "provider_configs": providers})
    key, key_id = created.json()["value"], created.json()["id"]
    delays = [await seconds_until(b, key, 200)]  # created on A, accepted by B

    await change(b, "PUT", f"/virtual-keys/{key_id}", {"is_active": False})
    delays.append(await seconds_until(a, key, 403))  # disabled on B, refused by A
    await change(b, "PUT", f"/virtual-keys/{key_id}", {"is_active": True, "budgets": [budget(1e-9)]})
    delays.append(await seconds_until(a, key, 402))  # a spent budget set on B, in force on A
    await change(a, "DELETE", f"/virtual-keys/{key_id}")
    delays.append(await seconds_until(b, key, 401))  # deleted on A, unknown to B

    assert max(delays) < IN_FORCE_S, delays
    for node in (a, b):
        assert "Traceback" not in node.output()
        assert key not in node.output()
