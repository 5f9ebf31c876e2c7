"""Publish/subscribe between the gateway processes on one Redis (the `redis` section): a node tells the others that
something changed (an admin-API change, a provider key refused upstream) and each applies it to its own state.

Redis pub/sub delivers at most once, and nothing to a node that is not connected at that moment. So a subscriber
also gives a `resync`, called each time its subscription is (re)established: whatever was missed meanwhile is read
again from where it is durable (a store, a key with a TTL). One subscriber connection per app, reconnected with
backoff. A node does not receive its own messages (each carries the sender's id). Without the `redis` section,
publish and subscribe do nothing (one process: no one else to tell) and cost nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
from aiohttp import web

from .keys import EVENTS
from .shared_redis import RedisUnavailable, SharedRedis

log = logging.getLogger("gateway.events")
T = TypeVar("T", bound=msgspec.Struct)
RETRY_FIRST_S = 0.25  # the first pause before reconnecting: a restarting Redis is not hammered
RETRY_MAX_S = 5.0
CLOSE_WAIT_S = 2.0
LISTEN_S = 1.0  # one wait for a message; the loop goes on (and notices a closed connection at once)
_ENCODER = msgspec.json.Encoder()


class Envelope(msgspec.Struct, frozen=True):
    origin: str  # the sending app's id: its own messages are not handed back to it
    payload: msgspec.Raw


_ENVELOPE = msgspec.json.Decoder(Envelope)


@dataclass(frozen=True, slots=True)
class _Subscription:
    payload_type: type[Any]
    handler: Callable[[Any], Awaitable[None]]
    resync: Callable[[], Awaitable[None]]


class Events:
    """The app's publisher and its one subscriber connection (started at the first subscription)."""

    def __init__(self, redis: SharedRedis) -> None:
        self.origin = uuid.uuid4().hex
        self._redis = redis
        self._prefix = redis.key("events:")
        self._subscriptions: dict[str, list[_Subscription]] = {}
        self._listener: asyncio.Task[None] | None = None
        self._connected = False
        self._lost = False  # the connection was lost and not yet back: warn once per outage
        self._background: set[asyncio.Task[None]] = set()
        self._closed = False

    async def publish(self, topic: str, payload: msgspec.Struct) -> bool:
        """Send `payload` to every other node subscribed to `topic`; False (and a warning) when Redis cannot take
        it: the others learn the change at their next resync."""
        data = _ENCODER.encode(Envelope(self.origin, msgspec.Raw(_ENCODER.encode(payload))))
        try:
            await self._redis.publish(self._prefix + topic, data)
        except RedisUnavailable as error:
            log.warning("could not tell the other gateways about a %s change (%s)", topic, error)
            return False
        return True

    def subscribe(
        self,
        topic: str,
        payload_type: type[T],
        handler: Callable[[T], Awaitable[None]],
        resync: Callable[[], Awaitable[None]],
    ) -> None:
        subscription = _Subscription(payload_type, handler, resync)
        self._subscriptions.setdefault(topic, []).append(subscription)
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen_forever())
        elif self._connected:  # a message sent before this subscription existed is covered by a resync
            task = asyncio.create_task(_resync(topic, subscription))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        """Stop listening (the app stops: first thing, before the subscribers close their stores); idempotent."""
        tasks = [*self._background, *([self._listener] if self._listener else [])]
        self._listener = None
        self._closed = True
        self._subscriptions.clear()
        for task in tasks:
            task.cancel()
        if tasks:  # bounded: a cancellation that races a client's own read timeout may be lost in the client
            _, stuck = await asyncio.wait(tasks, timeout=CLOSE_WAIT_S)
            for task in stuck:
                task.cancel()  # and the loops see _closed at their next turn

    async def _listen_forever(self) -> None:
        delay = RETRY_FIRST_S
        while not self._closed:  # until close()
            try:
                await self._listen_once()
            except Exception as error:  # the connection failed or was closed: reconnect after a pause
                if self._connected or not self._lost:
                    log.warning("lost the Redis subscription (%s); reconnecting", type(error).__name__)
                self._lost = True
                delay = RETRY_FIRST_S if self._connected else min(delay * 2, RETRY_MAX_S)
                self._connected = False
            await asyncio.sleep(delay)

    async def _listen_once(self) -> None:
        client = self._redis.subscriber()
        pubsub = client.pubsub()
        try:
            async with asyncio.timeout(self._redis.config.timeout_in_seconds * 2):
                await pubsub.psubscribe(self._prefix + "*")
                while (await pubsub.get_message(timeout=LISTEN_S)) is None:  # the confirmation: subscribed now
                    pass
            self._connected = True
            if self._lost:
                log.warning("the Redis subscription is back; reading what changed meanwhile")
                self._lost = False
            for topic, subscriptions in list(self._subscriptions.items()):
                for subscription in subscriptions:
                    await _resync(topic, subscription)
            while not self._closed:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=LISTEN_S)
                if message is not None:
                    await self._dispatch(message)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            with contextlib.suppress(Exception):
                await client.aclose()

    async def _dispatch(self, message: dict[str, Any]) -> None:
        channel = message.get("channel")
        data = message.get("data")
        if not isinstance(channel, bytes) or not isinstance(data, bytes):
            return
        topic = channel.decode(errors="replace").removeprefix(self._prefix)
        try:
            envelope = _ENVELOPE.decode(data)
        except msgspec.DecodeError:
            log.warning("ignored a malformed %s message", topic)
            return
        if envelope.origin == self.origin:
            return
        for subscription in self._subscriptions.get(topic, ()):
            try:
                payload = msgspec.json.decode(envelope.payload, type=subscription.payload_type)
                await subscription.handler(payload)
            except Exception:  # one bad message or handler must not stop the others
                log.exception("could not apply a %s message", topic)


async def _resync(topic: str, subscription: _Subscription) -> None:
    try:
        await subscription.resync()
    except RedisUnavailable:  # Redis failed again (it was restarting): reconnect, and so resync, later
        raise
    except Exception:
        log.exception("could not resync %s", topic)


async def publish(app: web.Application, topic: str, payload: msgspec.Struct) -> None:
    """Tell the other gateway processes on the app's Redis about a change (nothing without the `redis` section)."""
    events = app.get(EVENTS)
    if events is not None:
        await events.publish(topic, payload)


def subscribe(
    app: web.Application,
    topic: str,
    payload_type: type[T],
    handler: Callable[[T], Awaitable[None]],
    resync: Callable[[], Awaitable[None]],
) -> None:
    """Call `handler` with each `topic` message another gateway process publishes, decoded as `payload_type`, and
    `resync` each time the subscription is (re)established (a message may have been missed). Call it from a
    `gw_lifespan` (the subscription ends with the app); without the `redis` section it does nothing."""
    events = app.get(EVENTS)
    if events is not None:
        events.subscribe(topic, payload_type, handler, resync)
