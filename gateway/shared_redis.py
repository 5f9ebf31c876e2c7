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
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from .config_shared import RedisConfig
from .redis_wire import PipelinedConnection, ReplyError


@dataclass(frozen=True, slots=True)
class LuaScript:
    source: str
    sha: str


class RedisUnavailable(Exception):
    """Redis could not be reached or did not answer in time (the message names no address or password)."""


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
        """Run `script` atomically; RedisUnavailable when Redis cannot answer within the timeout.

        On the request path: it goes through the pipelined connection (gateway/redis_wire.py), not redis-py's
        pool, which cost more CPU than the rest of the round trip."""
        try:
            try:
                return await self._wire.call("EVALSHA", script.sha, len(keys), *keys, *args)
            except ReplyError as error:
                if not str(error).startswith("NOSCRIPT"):
                    raise
                await self._wire.call("SCRIPT", "LOAD", script.source)  # a new or restarted Redis: load it, once
                return await self._wire.call("EVALSHA", script.sha, len(keys), *keys, *args)
        except ReplyError:  # the script itself failed: a bug, not an outage, so not handled as one
            raise
        except (OSError, TimeoutError, ConnectionError) as error:
            raise RedisUnavailable(f"Redis is unreachable ({type(error).__name__})") from None

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


def redis_secrets(config: RedisConfig | None) -> list[str]:
    """The URL and its password: never in a log line or an answer."""
    if config is None:
        return []
    password = urlsplit(config.url).password
    return [config.url, *((password, unquote(password)) if password else ())]


@contextlib.asynccontextmanager
async def shared_redis(config: RedisConfig) -> AsyncIterator[SharedRedis]:
    client = SharedRedis(config)
    try:
        yield client
    finally:
        await client.close()
