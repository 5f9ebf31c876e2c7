"""Sticky sessions and dead-key marks shared by gateway processes on one Redis: a session goes to the same provider
key whichever node serves it, and a key an upstream refused on one node is skipped by the others (and by a node
started later); with Redis gone, a session call still succeeds (the node chooses on its own)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gateway.testing import (
    Answer,
    FakeUpstream,
    Http,
    Recorded,
    Reply,
    anthropic_body,
    anthropic_error,
    anthropic_message,
)
from tests.cache.redis_server import RedisServer
from tests.http.governance_helpers import ADMIN, CLAUDE, MESSAGES, UP_MESSAGES, bearer

from .nodes import Node, node_config, nodes

KEYS = {"k1": "sk-ant-shared-one", "k2": "sk-ant-shared-two"}
SESSIONS = 6  # each pinned on node 0 and used on the others: all agreeing by chance has odds 2^-12
MARK_TIMEOUT_S = 5.0


def two_keys(upstream_url: str) -> dict[str, Any]:
    settings = node_config(upstream_url)
    keys = [{"name": name, "value": value, "models": ["*"]} for name, value in KEYS.items()]
    anthropic = {"keys": keys, "network_config": {"base_url": upstream_url, "max_retries": 0}}
    return {**settings, "providers": {**settings["providers"], "anthropic": anthropic}}


async def call(node: Node, headers: Mapping[str, str] | None = None) -> Answer:
    async with Http(node.url, key=None) as http:
        return await http.post(MESSAGES, anthropic_body(CLAUDE, "hi", max_tokens=8), headers)


def key_of(request: Recorded) -> str:
    return next(name for name, value in KEYS.items() if request.headers.get("x-api-key") == value)


def keys_used(fake: FakeUpstream, since: int = 0) -> list[str]:
    return [key_of(r) for r in fake.requests_to(UP_MESSAGES)[since:]]


async def test_a_session_goes_to_the_same_key_on_every_node(
    tmp_path: Path, fake_upstream: FakeUpstream, redis: RedisServer
) -> None:
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("ok")))
    async with nodes(tmp_path, 3, two_keys(fake_upstream.url), redis.url) as started:
        for index in range(SESSIONS):
            session = {"x-bf-session-id": f"s-{index}", "x-bf-session-ttl": "60"}
            before = len(fake_upstream.requests_to(UP_MESSAGES))
            for node in (*started, *started):
                assert (await call(node, session)).status == 200
            assert len(set(keys_used(fake_upstream, before))) == 1, keys_used(fake_upstream, before)
        await redis.stop()  # stickiness is a preference: without Redis the call is still served
        assert (await call(started[1], {"x-bf-session-id": "s-0"})).status == 200
    assert "sticky sessions: Redis is unreachable" in started[1].output()


async def test_a_key_refused_on_one_node_is_skipped_by_the_others(
    tmp_path: Path, fake_upstream: FakeUpstream, redis: RedisServer
) -> None:
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("ok")))
    fake_upstream.check = lambda r: _refused() if r.headers.get("x-api-key") == KEYS["k1"] else None
    settings = two_keys(fake_upstream.url)
    async with nodes(tmp_path, 2, settings, redis.url) as (first, second):
        for _ in range(20):  # until node 0 tried k1 (each call is served by k2 in the end)
            assert (await call(first)).status == 200
            if "k1" in keys_used(fake_upstream):
                break
        assert "k1" in keys_used(fake_upstream)
        await _marked_dead(second)
        before = len(fake_upstream.requests_to(UP_MESSAGES))
        for _ in range(10):
            assert (await call(second)).status == 200
        assert keys_used(fake_upstream, before) == ["k2"] * 10  # never k1: not one refused round trip
        (tmp_path / "later").mkdir()
        async with nodes(tmp_path / "later", 1, settings, redis.url) as (late,):  # reads the marks when it starts
            await _marked_dead(late)


def _refused() -> Reply:
    return Reply.json(anthropic_error("authentication_error", "invalid x-api-key"), 401)


async def _marked_dead(node: Node) -> None:
    deadline = time.monotonic() + MARK_TIMEOUT_S
    async with Http(node.url, key=None) as http:
        while True:
            answer = await http.get("/api/providers/health", bearer(ADMIN))
            assert answer.status == 200, answer
            (anthropic,) = [p for p in answer.json()["providers"] if p["name"] == "anthropic"]
            states = {k["name"]: k["state"] for k in anthropic["keys"]}
            if states == {"k1": "dead", "k2": "live"}:
                return
            assert time.monotonic() < deadline, states
            await asyncio.sleep(0.05)
