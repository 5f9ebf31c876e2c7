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
        from redis.exceptions import NoScriptError, RedisError, ResponseError

        self._failures = (RedisError, OSError, asyncio.TimeoutError)
        self._script_error = ResponseError
        self._no_script = NoScriptError
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

    def key(self, name: str) -> str:
        return self.key_prefix + name

    def script(self, source: str) -> LuaScript:
        """A Lua script run by EVALSHA (loaded on first use, and again after Redis lost its script cache)."""
        return LuaScript(source, hashlib.sha1(source.encode()).hexdigest())

    async def run(self, script: LuaScript, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run `script` atomically; RedisUnavailable when Redis cannot answer within the timeout."""
        try:
            async with asyncio.timeout(self.config.timeout_in_seconds * 2):  # connect, then answer
                try:  # EVALSHA directly: redis-py's Script wrapper costs ~15 us a call
                    return await self.client.evalsha(script.sha, len(keys), *keys, *args)
                except self._no_script:  # a new or restarted Redis: load it, once
                    await self.client.script_load(script.source)
                    return await self.client.evalsha(script.sha, len(keys), *keys, *args)
        except self._script_error:  # the script itself failed: a bug, not an outage, so not handled as one
            raise
        except self._failures as error:
            raise RedisUnavailable(f"Redis is unreachable ({type(error).__name__})") from None

    async def ping(self) -> bool:
        """Whether Redis answers now (readiness)."""
        try:
            async with asyncio.timeout(self.config.timeout_in_seconds * 2):
                return bool(await self.client.ping())
        except self._failures:
            return False

    async def close(self) -> None:
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
