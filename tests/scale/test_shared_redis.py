"""The app's Redis client (the `redis` section, `REDIS` in gateway.api): it answers `ping` for readiness, its URL
and password are masked like every secret, and a Redis that accepts connections but never answers bounds each call
by the configured timeout (a 503 under "deny", the process's own counters under "allow_local"), never a hang."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.api import REDACTOR, REDIS
from gateway.testing import FakeUpstream, MakeGateway, Reply, anthropic_message, assert_anthropic_error
from tests.cache.redis_server import RedisServer
from tests.cli_helpers import cli_env, run_cli
from tests.http.governance_helpers import UP_MESSAGES, budget, config, vk

from .nodes import PASSWORD, ask_app

KEY = "sk-bf-scale-key-bbbbbbbbbbbbbbbbbb"
TIMEOUT_S = 0.2


@contextlib.asynccontextmanager
async def silent_redis() -> AsyncIterator[str]:
    """A listener that accepts connections and never answers: a Redis that hangs."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up and closes
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"redis://:{PASSWORD}@127.0.0.1:{port}/0"
    finally:
        server.close()
        await server.wait_closed()


def governed(upstream_url: str, redis_url: str, **redis: Any) -> dict[str, Any]:
    settings = config(upstream_url, vk("k", KEY, budgets=[budget(1.0)]))
    return {**settings, "redis": {"url": redis_url, "timeout_in_seconds": TIMEOUT_S, **redis}}


async def test_ping_answers_while_redis_does_and_the_url_is_a_secret(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, redis: RedisServer
) -> None:
    gw = await make_gateway(governed(fake_upstream.url, redis.url))
    client = gw.app[REDIS]
    assert await client.ping()
    async with gw.http(None) as http:
        assert (await http.get("/ready")).status == 200
    masked = gw.app[REDACTOR].text(f"could not reach {redis.url} (password {PASSWORD})")
    assert PASSWORD not in masked and redis.url not in masked
    await redis.stop()
    start = time.monotonic()
    assert not await client.ping()
    assert time.monotonic() - start < 4 * TIMEOUT_S + 0.5
    async with gw.http(None) as http:  # a load balancer stops sending this node calls it would refuse
        answer = await http.get("/ready")
    assert answer.status == 503 and answer.json()["failing"] == {"redis": "Redis (the redis section) does not answer"}
    assert PASSWORD not in answer.body.decode()


async def test_without_the_section_there_is_no_client(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    gw = await make_gateway(config(fake_upstream.url, vk("k", KEY)))
    assert REDIS not in gw.app


@pytest.mark.parametrize("policy", ["deny", "allow_local"])
async def test_a_hanging_redis_bounds_each_call(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, policy: str
) -> None:
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("ok")))
    async with silent_redis() as url:
        gw = await make_gateway(governed(fake_upstream.url, url, on_failure=policy))
        async with gw.http(None) as http:
            start = time.monotonic()
            answer = await ask_app(http, KEY)
            elapsed = time.monotonic() - start
        assert elapsed < 4 * TIMEOUT_S + 1.0, elapsed
        if policy == "deny":
            message = assert_anthropic_error(answer, 503, "overloaded_error", "Redis")
            assert PASSWORD not in message and url not in message
        else:
            assert answer.status == 200, answer
        assert not await gw.app[REDIS].ping()


def test_a_url_that_is_not_redis_is_refused_without_quoting_it(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"providers": {"mock": {}}, "redis": {"url": "env.REDIS_URL"}}))
    result = run_cli("check-config", str(path), env=cli_env(REDIS_URL=f"http://:{PASSWORD}@127.0.0.1:1/0"))
    assert result.returncode == 1, result
    assert "$.redis: url: a redis://, rediss:// or unix:// URL is expected" in result.stderr + result.stdout
    assert PASSWORD not in result.stderr + result.stdout
