"""Cached answers on aiocache: in process memory by default, or Redis (aiocache's Redis backend) when configured.

Keys are `<namespace>:<cache key hash>:<tenant hash>:<request digest>`; the cache id a client sees is the part
after the namespace, so `DELETE /api/cache/clear/{cache_id}` finds its entry and clear-by-key deletes every entry
under one cache key's prefix. Every operation is bounded by the store's timeout, and a failure (Redis down) is a
miss: the request goes to its provider, and one warning a minute says why.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import unquote, urlsplit

import msgspec
from aiocache import SimpleMemoryCache
from aiocache.base import BaseCache

from gateway.api import RedisConfig
from gateway.api import anthropic as a

from .config import CacheStore

log = logging.getLogger("gateway.semantic_cache")
WARN_EVERY = 60.0  # seconds between two warnings about a failing store


class Entry(msgspec.Struct, frozen=True, kw_only=True):
    """One stored answer (as the canonical Message: any client dialect, stream or not, is served from it)."""

    message: a.Message
    created: float
    expires_at: float
    provider: str = ""
    model: str = ""


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(Entry)


class _Bytes:
    """aiocache's serializer interface: values are the bytes we encoded (msgspec), read back as bytes."""

    encoding = None

    def dumps(self, value: Any) -> Any:
        return value

    def loads(self, value: Any) -> Any:
        return value


class EntryStore:
    """get / set / delete / clear-by-prefix of entries; never raises (a failure is a miss, logged)."""

    def __init__(self, kind: str, cache: BaseCache, key_prefix: str = "") -> None:
        self.kind = kind
        self._cache = cache
        self._prefix = key_prefix  # the app's redis.key_prefix on the app's Redis, before every key
        self._last_warning = -WARN_EVERY
        self.writes = 0  # entries stored so far (what a test waits for: stores happen after the answer)

    @classmethod
    def configured(cls, config: CacheStore | None, redis: RedisConfig | None) -> EntryStore:
        """The plugin's own `cache_store` when given, else the app's `redis` section when set, else memory."""
        if config is None and redis is not None:
            if urlsplit(redis.url).scheme != "unix":
                return cls("redis", _on_app_redis(redis), redis.key_prefix)
            log.warning("response cache: aiocache cannot reach Redis on a unix:// URL; caching in memory")
        config = config or CacheStore()
        return cls(config.type, _backend(config))

    async def get(self, key: str) -> Entry | None:
        raw = await self._guard("read", self._cache.get(self._prefix + key))
        if not isinstance(raw, bytes):
            return None
        try:
            entry = _DECODER.decode(raw)
        except msgspec.DecodeError:
            return None
        return entry if entry.expires_at > time.time() else None

    async def set(self, key: str, entry: Entry, ttl: float) -> bool:
        stored = bool(await self._guard("write", self._cache.set(self._prefix + key, _ENCODER.encode(entry), ttl=ttl)))
        self.writes += stored
        return stored

    async def delete(self, key: str) -> int:
        return int(await self._guard("delete", self._cache.delete(self._prefix + key)) or 0)

    async def clear_prefix(self, prefix: str) -> bool:
        return bool(await self._guard("clear", self._cache.clear(namespace=self._prefix + prefix)))

    async def close(self) -> None:
        await self._guard("close", self._cache.close())

    async def _guard(self, what: str, operation: Any) -> Any:
        try:
            return await operation
        except Exception as exc:  # any failure of the store is a miss, never a failed request
            now = time.monotonic()
            if now - self._last_warning >= WARN_EVERY:
                self._last_warning = now
                log.warning(
                    "response cache %s store: %s failed (%s); serving without the cache",
                    self.kind,
                    what,
                    type(exc).__name__,
                )
            return None


def _backend(config: CacheStore) -> BaseCache:
    if config.type == "memory":
        # No timeout: memory cannot hang, and aiocache's timeout wraps every call in a task (a third of a hit).
        return SimpleMemoryCache(serializer=_Bytes(), namespace="", timeout=None)
    from aiocache import RedisCache  # needs redis-py (the `redis` extra): checked with the config

    redis = config.config
    host, port, db, password = _address(redis.addr)
    return RedisCache(
        endpoint=host,
        port=port,
        db=db if db is not None else redis.db,
        password=password or redis.password,
        serializer=_Bytes(),
        namespace="",
        timeout=redis.timeout,
        create_connection_timeout=redis.timeout,
    )


def _on_app_redis(config: RedisConfig) -> BaseCache:
    """aiocache's Redis backend on the address of the app's `redis` section, with its timeout."""
    from aiocache import RedisCache

    host, port, db, password = _address(config.url)
    return RedisCache(
        endpoint=host,
        port=port,
        db=db or 0,
        password=password and unquote(password),
        ssl=urlsplit(config.url).scheme == "rediss",
        serializer=_Bytes(),
        namespace="",
        timeout=config.timeout_in_seconds,
        create_connection_timeout=config.timeout_in_seconds,
    )


def _address(addr: str) -> tuple[str, int, int | None, str | None]:
    """`host:port` or `redis://[:password@]host[:port][/db]`."""
    if "://" not in addr:
        host, _, port = addr.rpartition(":")
        return (host or "127.0.0.1"), int(port or 6379), None, None
    url = urlsplit(addr)
    db = int(url.path.strip("/")) if url.path.strip("/") else None
    return url.hostname or "127.0.0.1", url.port or 6379, db, url.password
