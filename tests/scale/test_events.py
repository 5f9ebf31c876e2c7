"""gateway.api's publish/subscribe between gateway apps on one Redis: a typed payload reaches the other apps and not
the sender; a payload of the wrong shape is logged and skipped, not fatal to the subscription; `resync` runs when
the subscription is established and again after its connection was killed; without `redis` both do nothing."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import msgspec
import pytest
import redis.asyncio as aioredis
from aiohttp import web

from gateway import hookimpl
from gateway.api import publish, subscribe
from gateway.testing import MakeGateway
from tests.cache.redis_server import RedisServer

MOCK: dict[str, object] = {"providers": {"mock": {}}}
WAIT_S = 5.0


class Note(msgspec.Struct, frozen=True):
    text: str
    count: int


class Other(msgspec.Struct, frozen=True):
    count: str  # the same field, another type: a Note cannot be read as one


@dataclass
class Listener:
    """A plugin subscribing to "notes" (and "others") from its lifespan, recording what it gets."""

    notes: list[Note] = field(default_factory=list)
    others: list[Other] = field(default_factory=list)
    resyncs: int = 0

    @hookimpl
    def gw_lifespan(self, app: web.Application) -> contextlib.AbstractAsyncContextManager[None]:
        @contextlib.asynccontextmanager
        async def running() -> AsyncIterator[None]:
            subscribe(app, "notes", Note, self._note, self._resync)
            subscribe(app, "others", Other, self._other, self._resync)
            yield

        return running()

    async def _note(self, note: Note) -> None:
        self.notes.append(note)

    async def _other(self, other: Other) -> None:
        self.others.append(other)

    async def _resync(self) -> None:
        self.resyncs += 1


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.01)


async def test_a_payload_reaches_the_other_apps_and_resync_follows_a_lost_connection(
    make_gateway: MakeGateway, redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    settings = {**MOCK, "redis": {"url": redis.url}}
    first, second = Listener(), Listener()
    sender = await make_gateway(settings, [first])
    await make_gateway(settings, [second])
    await until(lambda: first.resyncs == second.resyncs == 2, "each subscription resyncs once it is established")
    await publish(sender.app, "others", Note("not an Other", 1))  # logged and skipped
    await publish(sender.app, "notes", Note("hello", 2))
    await until(lambda: second.notes == [Note("hello", 2)], "the note reaches the other app")
    assert first.notes == [] and first.others == second.others == []  # the sender does not hear itself
    assert "could not apply a others message" in caplog.text
    client = aioredis.from_url(redis.url)
    try:
        assert await client.client_kill_filter(_type="pubsub") == 2
    finally:
        await client.aclose()
    await until(lambda: first.resyncs == second.resyncs == 4, "a lost subscription resyncs when it is back")
    await publish(sender.app, "notes", Note("again", 3))
    await until(lambda: second.notes[-1:] == [Note("again", 3)], "and it hears messages again")
    assert first.notes == []  # by now its own two notes would have come back, were they not skipped


async def test_without_redis_publish_and_subscribe_do_nothing(make_gateway: MakeGateway) -> None:
    listener = Listener()
    gw = await make_gateway(MOCK, [listener])
    await publish(gw.app, "notes", Note("alone", 1))
    await asyncio.sleep(0.05)
    assert (listener.notes, listener.resyncs) == ([], 0)
