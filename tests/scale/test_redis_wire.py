"""The pipelined Redis connection the admission script uses (gateway/redis_wire.py), against a real redis-server
with a password: replies matched to concurrent callers in order, errors as errors, a script reloaded after Redis
forgot it, a silent Redis bounded by the deadline (and the connection replaced), a restarted Redis reconnected to,
and a wrong password an outage whose message holds no secret."""

from __future__ import annotations

import asyncio

import pytest

from gateway.config_shared import RedisConfig
from gateway.redis_wire import PipelinedConnection, ReplyError, encode
from gateway.shared_redis import RedisUnavailable, SharedRedis
from tests.cache.redis_server import RedisServer

from .nodes import PASSWORD
from .test_shared_redis import silent_redis

TIMEOUT_S = 0.5


def test_commands_are_resp_arrays_of_bulk_strings() -> None:
    assert encode(("SET", b"k", 1, 0.5)) == b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n1\r\n$3\r\n0.5\r\n"
    with pytest.raises(TypeError, match="not NoneType"):
        encode(("SET", None))


async def test_concurrent_callers_each_get_their_own_reply(redis: RedisServer) -> None:
    wire = PipelinedConnection(redis.url, TIMEOUT_S)
    try:
        replies = await asyncio.gather(*(wire.call("ECHO", f"caller-{i}") for i in range(500)))
        assert replies == [f"caller-{i}".encode() for i in range(500)]
        counts = await asyncio.gather(*(wire.call("INCR", "counter") for _ in range(200)))
        assert sorted(counts) == list(range(1, 201))
        assert await wire.call("GET", "missing") is None
    finally:
        await wire.close()


async def test_an_error_reply_fails_only_its_own_call(redis: RedisServer) -> None:
    wire = PipelinedConnection(redis.url, TIMEOUT_S)
    try:
        await wire.call("SET", "text", "x")
        results = await asyncio.gather(
            wire.call("ECHO", "before"), wire.call("INCR", "text"), wire.call("ECHO", "after"), return_exceptions=True
        )
        assert results[0] == b"before" and results[2] == b"after"
        assert isinstance(results[1], ReplyError) and "not an integer" in str(results[1])
    finally:
        await wire.close()


async def test_a_script_is_loaded_again_after_redis_forgot_it(redis: RedisServer) -> None:
    shared = SharedRedis(RedisConfig(url=redis.url, timeout_in_seconds=TIMEOUT_S))
    script = shared.script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    try:
        assert await shared.run(script, ["n"], [2]) == 2
        await shared.client.script_flush()
        assert await shared.run(script, ["n"], [3]) == 5
        with pytest.raises(ReplyError):  # a script's own error is a bug to see, not an outage
            await shared.run(shared.script("return redis.call('NOSUCHCOMMAND')"), [], [])
    finally:
        await shared.close()


async def test_a_silent_redis_is_bounded_and_the_callers_behind_fail_at_once() -> None:
    async with silent_redis() as url:
        wire = PipelinedConnection(url, 0.2)
        started = asyncio.get_running_loop().time()
        results = await asyncio.gather(*(wire.call("PING") for _ in range(20)), return_exceptions=True)
        elapsed = asyncio.get_running_loop().time() - started
        await wire.close()
    assert all(isinstance(r, TimeoutError | ConnectionError) for r in results), results
    assert elapsed < 1.0  # one deadline for the connection (AUTH never answered), not 20 in a row


async def test_a_restarted_redis_is_reconnected_to(redis: RedisServer) -> None:
    shared = SharedRedis(RedisConfig(url=redis.url, timeout_in_seconds=TIMEOUT_S))
    script = shared.script("return 'pong'")
    try:
        assert await shared.run(script, [], []) == b"pong"
        await redis.stop()
        with pytest.raises(RedisUnavailable):
            await shared.run(script, [], [])
        await redis.start()  # same port, empty script cache
        assert await shared.run(script, [], []) == b"pong"
    finally:
        await shared.close()


async def test_a_wrong_password_is_an_outage_that_names_no_secret(redis: RedisServer) -> None:
    url = redis.url.replace(PASSWORD, "not-the-password-93c1")
    shared = SharedRedis(RedisConfig(url=url, timeout_in_seconds=TIMEOUT_S))
    try:
        with pytest.raises(RedisUnavailable) as raised:
            await shared.run(shared.script("return 1"), [], [])
    finally:
        await shared.close()
    assert "not-the-password-93c1" not in str(raised.value) and PASSWORD not in str(raised.value)
