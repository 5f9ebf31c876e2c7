"""Sticky sessions and dead-key marks shared by every gateway process on the app's Redis (the `redis` section).

- A session's key choice is a Redis key with the session's TTL (`<prefix>session:<provider>/<session id>`), read
  when a call names a session and written when it succeeds, so every node sends a session to the same provider
  key. Stickiness is a preference, never a reason to fail a call: while Redis cannot answer, the node chooses
  from its own memory (which every choice is also written to) and tries Redis again a second later.
- A key an upstream refused (401/402/403) on one node is published to the others, which mark it dead in their own
  Health (no Redis read per call), and kept as a Redis key that expires with the mark, which a node reads when its
  subscription (re)connects (a node started later, or one that missed the message).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import msgspec
from aiohttp import web

from ..events import subscribe
from ..keys import EVENTS
from ..shared_redis import Outage, RedisUnavailable, SharedRedis
from .health import DEAD_FOR_S, Health
from .keys import Sessions

log = logging.getLogger("gateway.providers")
TOPIC = "dead-keys"
RETRY_AFTER_S = 1.0  # after a failure, sessions are local for this long before Redis is tried again
MAX_MARKS = 10_000  # dead-key marks read at a resync (far more keys than a config holds)


class DeadKey(msgspec.Struct, frozen=True):
    provider: str
    key: str  # the key's name, or "#<position>" (never its value)
    until: float  # Unix seconds


_DEAD_KEY = msgspec.json.Decoder(DeadKey)
_ENCODER = msgspec.json.Encoder()


class SharedState:
    def __init__(self, app: web.Application, redis: SharedRedis, health: Health, local: Sessions) -> None:
        self._app = app
        self._redis = redis
        self._health = health
        self._local = local  # the providers' own sessions: what a node chooses while Redis fails
        self._outage = Outage(
            log, RETRY_AFTER_S, "sticky sessions: {error}; each gateway chooses keys on its own until it is back",
            "sticky sessions: Redis answers again; sessions are shared again",
        )  # fmt: skip
        self._tasks: set[asyncio.Task[None]] = set()
        subscribe(app, TOPIC, DeadKey, self._marked, self._read_marks)

    # --- sticky sessions ------------------------------------------------------------------------------------

    async def sticky(self, session: str) -> str | None:
        if not self._outage.skipping:
            try:
                found = await self._redis.get(self._redis.key("session:" + session))
            except RedisUnavailable as error:
                self._outage.failed(error)
            else:
                self._outage.answered()
                return found.decode(errors="replace") if found is not None else None
        return self._local.get(session, time.monotonic())

    async def stick(self, session: str, key_name: str, ttl_s: float) -> None:
        self._local.put(session, key_name, time.monotonic() + ttl_s)
        if self._outage.skipping:
            return
        try:
            await self._redis.set(self._redis.key("session:" + session), key_name.encode(), ttl_s)
        except RedisUnavailable as error:
            self._outage.failed(error)
        else:
            self._outage.answered()

    # --- dead-key marks -------------------------------------------------------------------------------------

    def refused(self, provider: str, key: str) -> None:
        """This node saw `key` refused: tell the others (in the background: the call moves on at once)."""
        mark = DeadKey(provider, key, time.time() + DEAD_FOR_S)
        task = asyncio.create_task(self._share(mark))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _share(self, mark: DeadKey) -> None:
        try:
            await self._redis.set(
                self._redis.key(f"dead-key:{mark.provider}/{mark.key}"), _ENCODER.encode(mark), DEAD_FOR_S
            )
        except RedisUnavailable as error:
            log.warning("could not share a dead key mark of provider %r (%s)", mark.provider, error)
            return
        await self._app[EVENTS].publish(TOPIC, mark)

    async def _marked(self, mark: DeadKey) -> None:
        self._health.mark_dead(mark.provider, mark.key, mark.until - time.time())

    async def _read_marks(self) -> None:
        for value in (await self._redis.scan_values(self._redis.key("dead-key:*"), MAX_MARKS)).values():
            with contextlib.suppress(msgspec.DecodeError):
                await self._marked(_DEAD_KEY.decode(value))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
