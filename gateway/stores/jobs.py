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
    """Durable job records. `insert` returns only once the job would survive the process being killed."""

    async def insert(self, job: Job) -> None: ...

    async def get(self, job_id: str) -> Job | None: ...

    async def claim(self, job: Job, now: float) -> Job | None:
        """Mark a pending job running (attempts + 1) and return it so; None if it is no longer pending."""
        ...

    async def finish(self, job: Job) -> None:
        """Store a terminal job (completed or failed) with its result."""
        ...

    async def release(self, job_ids: list[str]) -> None:
        """Put running jobs back to pending (graceful shutdown)."""
        ...

    async def unfinished(self) -> list[Job]:
        """Pending and running jobs, oldest first: what a restarted gateway must still run."""
        ...

    async def delete_expired(self, now: float) -> int: ...

    async def close(self) -> None: ...
