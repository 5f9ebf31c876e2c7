"""The job service of one app: admission, a bounded worker pool, crash recovery, expiry.

Guarantees, on either store: a job is committed to the store before its submit answer leaves; every job that was
pending or running when a gateway stopped runs (on SQLite at the next start on the app dir, on Redis on any node);
an interrupted one runs again, at most MAX_ATTEMPTS starts in all, then fails with a reason; a completed job is
never run again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable

from msgspec import Struct
from msgspec.structs import replace

from ..config import ClientConfig
from ..errors import NotFound, RateLimited
from ..stores.jobs import Job, JobStore

log = logging.getLogger("gateway.jobs")
MAX_ATTEMPTS = 3
SHUTDOWN_GRACE_S = 10.0
QUEUE_FULL_RETRY_AFTER_S = 1.0
TAKE_RETRY_S = 1.0
JOB_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")  # str(uuid.uuid4())


class Outcome(Struct, frozen=True):
    """What running a job produced: the answer exactly as the synchronous route would have sent it."""

    status: int
    body: bytes
    headers: list[tuple[str, str]]
    error: str | None = None  # why it failed, when status >= 400


Runner = Callable[[Job], Awaitable[Outcome]]


class JobService:
    def __init__(self, store: JobStore, run: Runner, config: ClientConfig) -> None:
        self.store = store
        self._run = run
        self._config = config
        self._holding: dict[asyncio.Task[None], str] = {}  # worker -> the job it is running
        self._workers: list[asyncio.Task[None]] = []
        self._sweeper: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        self._workers = [asyncio.create_task(self._work()) for _ in range(self._config.async_max_concurrency)]
        self._sweeper = asyncio.create_task(self._sweep())

    async def stop(self, grace_s: float = SHUTDOWN_GRACE_S) -> None:
        """Let running jobs finish for up to `grace_s`, then give the unfinished ones back to the store."""
        self._stopping = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        for worker in self._workers:
            if worker not in self._holding:
                worker.cancel()  # idle: waiting for a job
        if busy := list(self._holding):
            await asyncio.wait(busy, timeout=grace_s)
        interrupted = sorted(self._holding.values())
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        if interrupted:
            await self.store.release(interrupted)  # run again, by the next start or by another node
        await self.store.close()

    async def submit(self, job: Job) -> Job:
        """Admit and durably store a job; raises RateLimited when the queue is full."""
        # Shielded: a client that leaves mid-insert must not cut it short (the job stored, but not queued).
        if not await asyncio.shield(self.store.insert(job, self._config.async_max_queue)):
            raise RateLimited("the async job queue is full; retry later", retry_after=QUEUE_FULL_RETRY_AFTER_S)
        return job

    async def poll(self, job_id: str, owner: str) -> Job:
        """The job, if it exists, has not expired and belongs to `owner`; else NotFound (no hint which)."""
        if not JOB_ID.fullmatch(job_id):  # not one of ours (and it may not even be text a store can take)
            raise NotFound("job not found or expired")
        job = await self.store.get(job_id)
        if job is None or job.owner != owner or (job.expires_at is not None and job.expires_at <= time.time()):
            raise NotFound("job not found or expired")
        return job

    async def _work(self) -> None:
        me = asyncio.current_task()
        assert me is not None
        while not self._stopping:
            try:
                job = await self.store.next()
            except Exception:  # a store's bug or a broken disk must not end the worker for good
                log.exception("async jobs: taking the next job failed")
                await asyncio.sleep(TAKE_RETRY_S)
                continue
            self._holding[me] = job.id
            try:
                if job.attempts > MAX_ATTEMPTS:  # every earlier start was interrupted (a crash, a lost node)
                    reason = f"the gateway stopped while running this job {MAX_ATTEMPTS} times; not retried again"
                    outcome = Outcome(status=500, body=b"", headers=[], error=reason)
                else:
                    outcome = await self._outcome(job)
                await self._finish(_finished(job, outcome))
            finally:
                del self._holding[me]

    async def _finish(self, job: Job) -> None:
        try:
            await self.store.finish(job)
        except Exception as exc:  # the store is out of reach: the job stays claimed and runs again later
            log.warning("async job %s: its result could not be stored (%s); it will run again", job.id, exc)

    async def _outcome(self, job: Job) -> Outcome:
        try:
            return await self._run(job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must fail the job, not leave it running forever
            log.exception("async job %s crashed", job.id)
            return Outcome(status=500, body=b"", headers=[], error=f"internal error: {type(exc).__name__}")

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self._config.async_sweep_interval_in_seconds)
            with contextlib.suppress(Exception):
                deleted = await self.store.delete_expired(time.time())
                if deleted:
                    log.info("deleted %d expired async jobs", deleted)


def _finished(job: Job, outcome: Outcome) -> Job:
    now = time.time()
    return replace(
        job,
        status="completed" if outcome.status < 400 else "failed",
        completed_at=now,
        expires_at=now + job.ttl_s,
        result_status=outcome.status,
        result_body=outcome.body,
        result_headers=outcome.headers,
        error=outcome.error,
    )
