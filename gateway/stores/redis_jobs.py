"""Async jobs on Redis (the `redis` section): every gateway process on the same Redis runs and polls the same jobs.

Keys, under the section's key_prefix:
  jobs:job:<id>  a hash: `job` (the Job as msgpack; the whole record once finished), `status`, `attempts`,
                 `started_at`; it expires with the job's result TTL once finished
  jobs:queue     a Stream of {id: <job id>}, read by one consumer group ("workers"); each process is a consumer

A submit is one script (HSET and XADD, refused when the queue is full), in Redis before its answer leaves. A free
worker takes an entry with XREADGROUP, or one that another process has left idle past the visibility timeout with
XAUTOCLAIM (that process died holding it), and the claim script counts the start in the record (or drops the entry
of a job already finished). While a job runs, a heartbeat XCLAIMs the entries this process holds, so their idle
time stays far below the timeout and a long job is not taken from a live node. Finish stores the result with its
TTL and XACKs and XDELs the entry in one script: a finished job is never claimed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable
from typing import Any

import msgspec
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError

from ..errors import Overloaded
from ..redis_wire import ReplyError
from ..shared_redis import Outage, RedisUnavailable, SharedRedis
from ..shared_redis import unavailable as redis_unavailable
from .jobs import TERMINAL, Job

log = logging.getLogger("gateway.jobs")
GROUP = "workers"
RETRY_S = 1.0  # after an outage, how long a worker waits before it asks Redis again
_ENCODE = msgspec.msgpack.Encoder().encode
_DECODE = msgspec.msgpack.Decoder(Job).decode

# KEYS: record, stream. ARGV: job, job id, group, max waiting. The stream and group are made on first use (and
# again after a Redis that lost its data); "waiting" is the entries no consumer holds.
INSERT = """
if redis.call('EXISTS', KEYS[2]) == 0 then redis.call('XGROUP', 'CREATE', KEYS[2], ARGV[3], '0', 'MKSTREAM') end
if redis.call('XLEN', KEYS[2]) - redis.call('XPENDING', KEYS[2], ARGV[3])[1] >= tonumber(ARGV[4]) then
  return 0
end
redis.call('HSET', KEYS[1], 'job', ARGV[1], 'status', 'pending', 'attempts', 0)
redis.call('XADD', KEYS[2], '*', 'id', ARGV[2])
return 1
"""
# KEYS: record, stream. ARGV: group, entry, now. Returns {job, attempts}, or false for a finished job's entry.
CLAIM = """
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'pending' and status ~= 'running' then
  redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
  redis.call('XDEL', KEYS[2], ARGV[2])
  return false
end
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'status', 'running', 'started_at', ARGV[3])
return {redis.call('HGET', KEYS[1], 'job'), attempts}
"""
# KEYS: record, stream. ARGV: group, entry, finished job, status, ttl in ms.
FINISH = """
redis.call('HSET', KEYS[1], 'job', ARGV[3], 'status', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[2], ARGV[2])
return 1
"""
# KEYS: record, stream. ARGV: group, entry, job id. A job still running goes back to the queue as a new entry.
RELEASE = """
redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[2], ARGV[2])
if redis.call('HGET', KEYS[1], 'status') == 'running' then
  redis.call('HSET', KEYS[1], 'status', 'pending')
  redis.call('XADD', KEYS[2], '*', 'id', ARGV[3])
end
return 1
"""
# KEYS: stream. ARGV: group, consumer, entries. Resets the idle time of the entries this consumer still holds
# (one another node has re-claimed is left to it).
HEARTBEAT = """
for i = 3, #ARGV do
  if #redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2]) > 0 then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
  end
end
return 1
"""
# KEYS: stream. ARGV: group, consumer. A consumer that holds nothing leaves the group (no names pile up).
LEAVE = """
if redis.call('EXISTS', KEYS[1]) == 1 and #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) == 0 then
  redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
end
return 1
"""


def unavailable() -> Overloaded:
    return Overloaded(
        "async jobs are kept in Redis, which cannot be reached: try again shortly", status=503, retry_after=RETRY_S
    )


class RedisJobStore:
    def __init__(self, shared: SharedRedis, reader: aioredis.Redis, visibility_s: float) -> None:
        self._redis = shared
        self._reader = reader  # its own connections: a blocked XREADGROUP must not hold the shared pool's
        self._stream = shared.key("jobs:queue")
        self._consumer = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._visibility_ms = int(visibility_s * 1000)
        self._beat_s = visibility_s / 4  # a heartbeat lost or two still leaves the claim standing
        self._block_ms = int(min(1.0, self._beat_s) * 1000)
        self._reclaim_at = 0.0  # monotonic time of the next look for entries that a dead node held
        self._held: dict[str, str] = {}  # job id -> the stream entry this process holds for it
        self._outage = Outage(
            log, RETRY_S, "async jobs: Redis cannot be reached ({error}); workers wait until it answers",
            "async jobs: Redis is back; workers take jobs again",
        )  # fmt: skip
        self._scripts = {name: shared.script(source) for name, source in SCRIPTS.items()}
        self._heart: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, shared: SharedRedis, concurrency: int, visibility_s: float) -> RedisJobStore:
        config = shared.config
        pool = aioredis.BlockingConnectionPool.from_url(
            config.url,
            max_connections=concurrency,  # one per worker: each blocks on its own read
            timeout=config.timeout_in_seconds,
            socket_timeout=config.timeout_in_seconds + min(1.0, visibility_s / 4),  # the block, and an answer
            socket_connect_timeout=config.timeout_in_seconds,
            retry=Retry(NoBackoff(), 0),
        )
        store = cls(shared, aioredis.Redis(connection_pool=pool), visibility_s)
        store._heart = asyncio.create_task(store._heartbeat())
        return store

    def _record(self, job_id: str) -> str:
        return self._redis.key(f"jobs:job:{job_id}")

    async def _run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        try:
            return await self._redis.run(self._scripts[name], keys, args)
        except RedisUnavailable:
            raise unavailable() from None

    async def insert(self, job: Job, max_waiting: int) -> bool:
        keys = [self._record(job.id), self._stream]
        return bool(await self._run("insert", keys, [_ENCODE(job), job.id, GROUP, max_waiting]))

    async def get(self, job_id: str) -> Job | None:
        fields = ["job", "status", "attempts", "started_at"]
        try:
            raw, status, attempts, started = await self._redis.call("HMGET", self._record(job_id), *fields)
        except RedisUnavailable:
            raise unavailable() from None
        if raw is None:
            return None
        job = _DECODE(raw)
        if job.status in TERMINAL:
            return job
        return msgspec.structs.replace(
            job, status=status.decode(), attempts=int(attempts), started_at=float(started) if started else None
        )

    async def next(self) -> Job:
        """Wait for a job (an outage is waited out: logged once, asked again every RETRY_S)."""
        while True:
            # The service stops idle workers by cancelling them, and under load a cancel has been seen lost below
            # (a worker blocked in XREADGROUP kept reading): the task still counts it, so the wait ends here, at
            # the latest when the blocking read returns.
            if (task := asyncio.current_task()) is not None and task.cancelling():
                raise asyncio.CancelledError
            try:
                entry = await self._take()
                job = await self._claim(*entry) if entry else None
            except (RedisUnavailable, Overloaded) as error:
                self._outage.failed(error)
                await asyncio.sleep(RETRY_S)
                continue
            self._outage.answered()
            if job is not None:
                return job

    async def _take(self) -> tuple[str, str] | None:
        """An entry that a dead node left (XAUTOCLAIM), or else the next new one (XREADGROUP, blocking a while)."""
        if time.monotonic() >= self._reclaim_at:
            self._reclaim_at = time.monotonic() + self._beat_s
            claimed = await self._grouped(
                self._redis.client.xautoclaim(self._stream, GROUP, self._consumer, self._visibility_ms, count=1)
            )
            if claimed and claimed[1]:
                self._reclaim_at = 0.0  # there may be more: the next free worker looks again at once
                return _entry(claimed[1][0])
        read = await self._grouped(
            self._reader.xreadgroup(GROUP, self._consumer, {self._stream: ">"}, count=1, block=self._block_ms)
        )
        return _entry(read[0][1][0]) if read and read[0][1] else None

    async def _grouped(self, command: Awaitable[Any]) -> Any:
        """A read; None when Redis has lost the stream (restarted empty): the group is made again."""
        try:
            return await _ask(command)
        except ResponseError as error:
            if "NOGROUP" not in str(error):
                raise
        with contextlib.suppress(ResponseError):  # BUSYGROUP: another node made it first
            await _ask(self._redis.client.xgroup_create(self._stream, GROUP, id="0", mkstream=True))
        return None

    async def _claim(self, entry_id: str, job_id: str) -> Job | None:
        now = time.time()
        reply = await self._run("claim", [self._record(job_id), self._stream], [GROUP, entry_id, now])
        if not reply:
            return None  # finished (or expired) already: the entry is gone
        self._held[job_id] = entry_id
        return msgspec.structs.replace(_DECODE(reply[0]), status="running", attempts=int(reply[1]), started_at=now)

    async def finish(self, job: Job) -> None:
        # Held no longer, even if this fails: with no heartbeat, its entry is re-claimed after the timeout.
        entry = self._held.pop(job.id)
        args = [GROUP, entry, _ENCODE(job), job.status, job.ttl_s * 1000]
        await self._run("finish", [self._record(job.id), self._stream], args)

    async def release(self, job_ids: list[str]) -> None:
        for job_id in job_ids:
            if (entry := self._held.pop(job_id, None)) is not None:
                with contextlib.suppress(Overloaded):  # then it is re-claimed after the visibility timeout
                    await self._run("release", [self._record(job_id), self._stream], [GROUP, entry, job_id])

    async def delete_expired(self, now: float) -> int:
        return 0  # a finished job's hash expires in Redis (PEXPIRE)

    async def close(self) -> None:
        if self._heart is not None:
            self._heart.cancel()
            await asyncio.gather(self._heart, return_exceptions=True)
        with contextlib.suppress(Overloaded, ReplyError):  # NOGROUP: a Redis that lost its data
            await self._run("leave", [self._stream], [GROUP, self._consumer])
        await self._reader.aclose()
        await self._reader.connection_pool.disconnect()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self._beat_s)
            if held := list(self._held.values()):
                with contextlib.suppress(Overloaded, ReplyError):  # beats again next time
                    await self._run("heartbeat", [self._stream], [GROUP, self._consumer, *held])


SCRIPTS = {
    "insert": INSERT,
    "claim": CLAIM,
    "finish": FINISH,
    "release": RELEASE,
    "heartbeat": HEARTBEAT,
    "leave": LEAVE,
}


def _entry(raw: Any) -> tuple[str, str]:
    entry_id, fields = raw
    return entry_id.decode(), fields[b"id"].decode()


async def _ask(command: Awaitable[Any]) -> Any:
    """One command; Redis's connection errors and timeouts as RedisUnavailable (naming no address)."""
    try:
        return await command
    except ResponseError:
        raise
    except (RedisError, OSError, TimeoutError) as error:
        raise redis_unavailable(error) from None
