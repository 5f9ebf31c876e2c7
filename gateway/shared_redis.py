"""The app's Redis (the top-level `redis` section): one client and pool per app, for the state several gateway
processes share. Plugins reach it through the REDIS AppKey (set only when the section is configured).

Every operation is bounded: a connection is waited for, opened and read for at most `timeout_in_seconds`, and
never retried here (a caller that falls back or refuses must learn at once, not after redis-py's ten retries).
Failures surface as RedisUnavailable, whose message never holds the URL (it may carry a password).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from .config_shared import RedisConfig
from .redis_wire import PipelinedConnection, ReplyError

SUBSCRIBER_HEALTH_S = 5  # a pub/sub connection sends PING after this many idle seconds


@dataclass(frozen=True, slots=True)
class LuaScript:
    source: str
    sha: str


class RedisUnavailable(Exception):
    """Redis could not be reached or did not answer in time (the message names no address or password)."""


def unavailable(error: BaseException) -> RedisUnavailable:
    """What a failure of Redis is raised as: its type only (redis-py's messages may name the address)."""
    return RedisUnavailable(f"Redis is unreachable ({type(error).__name__})")


class Outage:
    """A node's view, for one use of Redis, of whether Redis answers: after a failure, `skipping` for `retry_s`
    (calls do not wait on a Redis that just failed), and one warning when it goes away and one when it answers
    again, never one per call. `down` is formatted with the error as `{error}`."""

    def __init__(self, log: logging.Logger, retry_s: float, down: str, back: str) -> None:
        self._log, self._retry_s, self._down, self._back = log, retry_s, down, back
        self.since: float | None = None  # monotonic time of the last failure, while Redis is out of reach

    @property
    def skipping(self) -> bool:
        return self.since is not None and time.monotonic() - self.since < self._retry_s

    def failed(self, error: BaseException) -> None:
        if self.since is None:
            self._log.warning(self._down.format(error=error))
        self.since = time.monotonic()

    def answered(self) -> None:
        if self.since is not None:
            self.since = None
            self._log.warning(self._back)


class SharedRedis:
    def __init__(self, config: RedisConfig) -> None:
        # The `redis` package is an extra (pip install 'llm-gateway[redis]'): imported only when configured.
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
        from redis.exceptions import RedisError

        self._failures = (RedisError, OSError, asyncio.TimeoutError)
        self.config = config
        self.key_prefix = config.key_prefix
        timeout = config.timeout_in_seconds
        self._pool = aioredis.BlockingConnectionPool.from_url(
            config.url,
            max_connections=config.max_connections,
            timeout=timeout,  # waiting for a free connection of the pool
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        self.client = aioredis.Redis(connection_pool=self._pool)
        self._wire = PipelinedConnection(config.url, timeout)

    def key(self, name: str) -> str:
        return self.key_prefix + name

    def script(self, source: str) -> LuaScript:
        """A Lua script run by EVALSHA (loaded on first use, and again after Redis lost its script cache)."""
        return LuaScript(source, hashlib.sha1(source.encode()).hexdigest())

    async def run(self, script: LuaScript, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run `script` atomically; RedisUnavailable when Redis cannot answer within the timeout (a script's own
        error is a ReplyError: a bug, not an outage).

        On the request path: it goes through the pipelined connection (gateway/redis_wire.py), not redis-py's
        pool, which cost more CPU than the rest of the round trip."""
        try:
            return await self.call("EVALSHA", script.sha, len(keys), *keys, *args)
        except ReplyError as error:
            if not str(error).startswith("NOSCRIPT"):
                raise
        await self.call("SCRIPT", "LOAD", script.source)  # a new or restarted Redis: load it, once
        return await self.call("EVALSHA", script.sha, len(keys), *keys, *args)

    async def publish(self, channel: str, data: bytes) -> int:
        """PUBLISH `data` on `channel` (the number of subscribers that got it); RedisUnavailable on failure."""
        try:
            async with asyncio.timeout(self.config.timeout_in_seconds * 2):
                return int(await self.client.publish(channel, data))
        except self._failures as error:
            raise unavailable(error) from None

    async def get(self, key: str) -> bytes | None:
        """GET, bounded like every operation; RedisUnavailable on failure. On the pipelined connection: a sticky
        session reads its key on every call."""
        found = await self.call("GET", key)
        return found if isinstance(found, bytes) else None

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        """SET with an expiry (milliseconds, at least one), bounded; RedisUnavailable on failure."""
        await self.call("SET", key, value, "PX", max(1, int(ttl_s * 1000)))

    async def call(self, *command: Any) -> Any:
        """One command on the pipelined connection (for what requests do), bounded; RedisUnavailable on
        failure, ReplyError when Redis answers with an error."""
        try:
            return await self._wire.call(*command)
        except (OSError, TimeoutError) as error:  # ConnectionError is an OSError
            raise unavailable(error) from None

    async def scan_values(self, pattern: str, limit: int) -> dict[str, bytes]:
        """The keys matching `pattern` (at most `limit`) and their values, bounded; RedisUnavailable on failure."""
        found: dict[str, bytes] = {}
        try:
            async with asyncio.timeout(self.config.timeout_in_seconds * 4):
                async for key in self.client.scan_iter(match=pattern, count=500):
                    value = await self.client.get(key)
                    if isinstance(value, bytes):
                        found[key.decode() if isinstance(key, bytes) else str(key)] = value
                    if len(found) >= limit:
                        break
        except self._failures as error:
            raise unavailable(error) from None
        return found

    def subscriber(self) -> Any:
        """A client of its own for one pub/sub connection (which stays open and idle: no read timeout, unlike the
        pool's), with redis-py's periodic PING so a dead connection is noticed."""
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        return aioredis.Redis.from_url(
            self.config.url,
            socket_connect_timeout=self.config.timeout_in_seconds,
            socket_timeout=None,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=SUBSCRIBER_HEALTH_S,
        )

    async def ping(self) -> bool:
        """Whether Redis answers now (readiness)."""
        try:
            async with asyncio.timeout(self.config.timeout_in_seconds * 2):
                return bool(await self.client.ping())
        except self._failures:
            return False

    async def close(self) -> None:
        await self._wire.close()
        await self.client.aclose()
        await self._pool.disconnect()


@contextlib.asynccontextmanager
async def shared_redis(config: RedisConfig) -> AsyncIterator[SharedRedis]:
    client = SharedRedis(config)
    try:
        yield client
    finally:
        await client.close()
