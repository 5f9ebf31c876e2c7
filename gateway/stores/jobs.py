"""Async jobs as stored records, and the protocol every job store backend implements."""

from __future__ import annotations

from typing import Literal, Protocol

from msgspec import Struct

from ..call import Principal

JobStatus = Literal["pending", "running", "completed", "failed"]
TERMINAL: frozenset[str] = frozenset({"completed", "failed"})


class Job(Struct, frozen=True, kw_only=True):
    """One accepted request, run later. The request is kept as the client sent it and decoded again by the
    worker (the same dialect code as a synchronous call); the result is kept as the bytes the client gets."""

    id: str
    owner: str  # the submitting principal's id ("" when anonymous); polling needs the same one
    principal: Principal | None  # who submitted it, as the job's calls are authorized as them
    dialect: str  # "anthropic" | "openai"
    route_prefix: str
    model: str
    body: bytes
    headers: list[tuple[str, str]]  # client headers the call needs again (anthropic-version, anthropic-beta)
    status: JobStatus = "pending"
    attempts: int = 0  # how many times a worker started it (a restart can interrupt a running job)
    created_at: float
    started_at: float | None = None
    completed_at: float | None = None
    expires_at: float | None = None  # completed_at + ttl_s; the job polls as not found after it
    ttl_s: int
    result_status: int | None = None  # the HTTP status of the stored answer
    result_body: bytes | None = None  # the answer exactly as the synchronous call would have sent it
    result_headers: list[tuple[str, str]] = []
    error: str | None = None  # why a job failed, for logs and the native job object


class JobStore(Protocol):
    """Durable job records and the queue of the jobs still to run: SQLite (this process's) or Redis (shared by
    every gateway on it). The service above admits, runs and expires jobs the same way on either."""

    async def insert(self, job: Job, max_waiting: int) -> bool:
        """Store a pending job and queue it, unless `max_waiting` jobs wait already (False). Returns only once the
        job would survive this process being killed."""
        ...

    async def next(self) -> Job:
        """Wait for a job to run and claim it for this process: status running, `attempts` counting this start
        (a job started more than MAX_ATTEMPTS times comes so too: the service fails it without running it)."""
        ...

    async def get(self, job_id: str) -> Job | None: ...

    async def finish(self, job: Job) -> None:
        """Store a terminal job (completed or failed) with its result; it is never claimed again."""
        ...

    async def release(self, job_ids: list[str]) -> None:
        """Give back running jobs this process claimed (graceful shutdown): they run again, here or elsewhere."""
        ...

    async def delete_expired(self, now: float) -> int: ...

    async def close(self) -> None: ...
