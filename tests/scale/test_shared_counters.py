"""Budgets and rate limits shared by three gateway processes on one real Redis: 200 concurrent calls spread over
them never admit more than the rate limit, nor overspend the budget beyond one reservation per node; Redis killed
and started again mid-traffic, under `on_failure` "deny" (503s naming Redis, then calls again) and "allow_local"
(calls go on, then the counter is shared again); the Redis password in no answer and no log line."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest

from gateway.testing import (
    Answer,
    FakeUpstream,
    Http,
    Reply,
    anthropic_message,
    assert_anthropic_error,
    assert_openai_error,
    openai_body,
)
from tests.cache.redis_server import RedisServer
from tests.http.governance_helpers import CHAT, GPT, PRICING, UP_MESSAGES, bearer, budget, vk

from .nodes import MAX_TOKENS, PASSWORD, Node, ask, node_config, nodes

KEY = "sk-bf-scale-key-aaaaaaaaaaaaaaaaaa"
TOKENS_KEY = "sk-bf-scale-key-cccccccccccccccccc"
USAGE = {"input_tokens": 1, "output_tokens": MAX_TOKENS}  # what the fake upstream reports for every call
PRICE = PRICING["anthropic/claude-x"]
COST = USAGE["input_tokens"] * PRICE["input_cost_per_token"] + MAX_TOKENS * PRICE["output_cost_per_token"]
# A call's reservation: its prompt's upper bound ("hi": well under 100 tokens) and max_tokens, at the prices.
WORST = 100 * PRICE["input_cost_per_token"] + MAX_TOKENS * PRICE["output_cost_per_token"]
CALLS = 200
NODES = 3
RECOVERY_S = 5.0


@pytest.fixture
def upstream(fake_upstream: FakeUpstream) -> FakeUpstream:
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("ok", usage=USAGE)))
    return fake_upstream


async def spread(cluster: list[Node], calls: int, key: str = KEY) -> list[Answer]:
    return list(await asyncio.gather(*(ask(cluster[i % len(cluster)], key) for i in range(calls))))


async def test_three_nodes_share_one_budget(tmp_path: Path, redis: RedisServer, upstream: FakeUpstream) -> None:
    limit = 40 * COST  # 200 calls could spend five times that; three unshared nodes would admit ~40 each
    settings = node_config(upstream.url, vk("k", KEY, budgets=[budget(limit)]))
    async with nodes(tmp_path, NODES, settings, redis.url) as cluster:
        answers = await spread(cluster, CALLS)
        statuses = Counter(a.status for a in answers)
        assert set(statuses) == {200, 402}, statuses
        spent = statuses[200] * COST
        assert spent <= limit + NODES * WORST, (statuses, spent, limit)  # the bound
        assert spent <= limit + 1e-12, (statuses, spent, limit)  # and exact: a reservation is a worst case
        assert statuses[200] >= 10, statuses
        assert PASSWORD not in "".join(n.output() for n in cluster)


async def test_three_nodes_never_admit_more_than_the_rate_limit(
    tmp_path: Path, redis: RedisServer, upstream: FakeUpstream
) -> None:
    await clear_of_window_edge(86_400)
    rate = {"request_max_limit": 50, "request_reset_duration": "1d"}
    per_call = USAGE["input_tokens"] + USAGE["output_tokens"]
    tokens = {"token_max_limit": 30 * per_call, "token_reset_duration": "1d"}  # 30 calls' worth, at most
    keys = vk("k", KEY, rate_limit=rate), vk("t", TOKENS_KEY, rate_limit=tokens)
    async with nodes(tmp_path, NODES, node_config(upstream.url, *keys), redis.url) as cluster:
        answers = await spread(cluster, CALLS)
        statuses = Counter(a.status for a in answers)
        assert statuses == {200: 50, 429: CALLS - 50}, statuses
        assert len(upstream.requests) == 50
        for node in cluster:  # every node now refuses: the count is one
            assert_anthropic_error(await ask(node, KEY), 429, "rate_limit_error", "request rate limit")
        # Tokens: each call holds its worst case until its real count replaces it, on all nodes together.
        statuses = Counter(a.status for a in await spread(cluster, CALLS, TOKENS_KEY))
        assert set(statuses) == {200, 429} and 1 <= statuses[200] <= 30, statuses


async def test_redis_down_under_deny_is_a_503_then_calls_again(
    tmp_path: Path, redis: RedisServer, upstream: FakeUpstream
) -> None:
    settings = node_config(upstream.url, vk("k", KEY, budgets=[budget(1.0)]), on_failure="deny")
    async with nodes(tmp_path, 1, settings, redis.url) as (node,):
        assert (await ask(node, KEY)).status == 200
        await redis.stop()
        refused = [await ask(node, KEY) for _ in range(3)]
        for answer in refused:
            message = assert_anthropic_error(answer, 503, "overloaded_error", "Redis")
            assert PASSWORD not in message and str(redis.port) not in message
        async with Http(node.url, key=None) as http:
            openai = await http.post(CHAT, openai_body(GPT, max_tokens=MAX_TOKENS), bearer(KEY))
        assert_openai_error(openai, 503, "server_error", "Redis")
        await redis.start()
        assert await first_success(node) < RECOVERY_S
        log = node.output()
        assert log.count("refusing governed calls") == 1, log  # one warning per transition, not per call
        assert log.count("Redis answers again") == 1, log
        assert PASSWORD not in log


async def test_redis_down_under_allow_local_counts_alone_then_shares_again(
    tmp_path: Path, redis: RedisServer, upstream: FakeUpstream
) -> None:
    await clear_of_window_edge(86_400)
    rate = {"request_max_limit": 4, "request_reset_duration": "1d"}
    settings = node_config(upstream.url, vk("k", KEY, rate_limit=rate), on_failure="allow_local")
    async with nodes(tmp_path, 2, settings, redis.url) as (a, b):
        await redis.stop()
        assert (await ask(a, KEY)).status == 200  # counted on node a alone
        await redis.start()  # empty: it kept nothing
        await asyncio.sleep(1.2)  # the nodes try Redis again a second after it failed
        # Node a seeds the shared counter with its own count (1); then both count there: 2, 3, 4, then refused.
        # Were they still apart, node b would admit four calls of its own.
        statuses = [(await ask(node, KEY)).status for node in (a, b, a, b)]
        assert statuses == [200, 200, 200, 429], statuses
        assert a.output().count("counting on this process alone") == 1, a.output()
        assert PASSWORD not in a.output() + b.output()


async def first_success(node: Node) -> float:
    """Seconds until a call on `node` is answered 200 again (bounded by RECOVERY_S)."""
    start = time.monotonic()
    while (await ask(node, KEY)).status != 200:
        assert time.monotonic() - start < RECOVERY_S, "no recovery after Redis came back"
        await asyncio.sleep(0.1)
    return time.monotonic() - start


async def clear_of_window_edge(length: int) -> None:
    """A rate-limit window must not end during the test (a new window admits the limit again)."""
    left = length - time.time() % length
    if left < 30:
        await asyncio.sleep(left + 0.5)
