"""The embedded job store: SQLite in the app dir, WAL journal, one connection used from the event loop.

WAL with synchronous=NORMAL makes a committed transaction survive the process being killed (SIGKILL): the
commit is in the WAL file before `insert` returns. (Surviving power loss would need synchronous=FULL.)
SQLite is for one gateway process per app dir; several processes share jobs through the Redis store. The queue of
jobs to run is this process's own (an asyncio queue), filled by submits and, at start, by what the last process on
the app dir left unfinished.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

import msgspec

from ..call import Principal
from .jobs import Job

log = logging.getLogger("gateway.jobs")
_PRINCIPAL = msgspec.json.Encoder()
_PRINCIPAL_DECODER = msgspec.json.Decoder(Principal)

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    principal TEXT,
    dialect TEXT NOT NULL,
    route_prefix TEXT NOT NULL,
    model TEXT NOT NULL,
    body BLOB NOT NULL,
    headers TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    completed_at REAL,
    expires_at REAL,
    ttl_s INTEGER NOT NULL,
    result_status INTEGER,
    result_body BLOB,
    result_headers TEXT NOT NULL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, created_at);
CREATE INDEX IF NOT EXISTS jobs_expiry ON jobs (expires_at);
"""
COLUMNS = (
    "id, owner, principal, dialect, route_prefix, model, body, headers, status, attempts, created_at, started_at,"
    " completed_at, expires_at, ttl_s, result_status, result_body, result_headers, error"
)


INSERT = f"INSERT INTO jobs ({COLUMNS}) VALUES ({', '.join('?' * len(COLUMNS.split(',')))})"


class SqliteJobStore:
    """Statements run on the event loop's thread, synchronously.

    A write here is an append to the WAL with no fsync (synchronous=NORMAL): tens of microseconds, less than
    handing it to a worker thread and back (aiosqlite measured a submit at 2x a plain request, this at ~1.3x).
    The one slow statement, the sweep's DELETE, runs once a minute.
    """

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection
        self._queue: asyncio.Queue[Job] = asyncio.Queue()  # pending jobs, in the order they are to run

    @classmethod
    async def open(cls, path: Path) -> SqliteJobStore:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit: each statement is its own transaction, committed (in the WAL) when `execute` returns.
        connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.executescript(SCHEMA)
        store = cls(connection)
        store._recover()
        return store

    def _recover(self) -> None:
        """Queue what the last process left: pending jobs, and running ones (interrupted: they run again)."""
        query = f"SELECT {COLUMNS} FROM jobs WHERE status IN ('pending', 'running') ORDER BY created_at"
        unfinished = [_job(row) for row in self._db.execute(query).fetchall()]
        self._db.execute("UPDATE jobs SET status = 'pending' WHERE status = 'running'")
        for job in unfinished:
            self._queue.put_nowait(msgspec.structs.replace(job, status="pending"))
        if unfinished:
            log.info("recovered %d unfinished async jobs", len(unfinished))

    async def insert(self, job: Job, max_waiting: int) -> bool:
        if self._queue.qsize() >= max_waiting:
            return False
        self._db.execute(INSERT, _row(job))  # synchronous: no other submit runs between the check and the queue
        self._queue.put_nowait(job)
        return True

    async def next(self) -> Job:
        while True:
            job = await self._claim(await self._queue.get())
            if job is not None:
                return job

    async def get(self, job_id: str) -> Job | None:
        row = self._db.execute(f"SELECT {COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job(row) if row is not None else None

    async def _claim(self, job: Job) -> Job | None:
        """The job marked running (attempts + 1); None if it is no longer pending (finished meanwhile)."""
        now = time.time()
        row = self._db.execute(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = ?"
            " WHERE id = ? AND status = 'pending' RETURNING attempts",
            (now, job.id),
        ).fetchone()
        if row is None:
            return None
        return msgspec.structs.replace(job, status="running", attempts=row[0], started_at=now)

    async def finish(self, job: Job) -> None:
        self._db.execute(
            "UPDATE jobs SET status = ?, completed_at = ?, expires_at = ?, result_status = ?, result_body = ?,"
            " result_headers = ?, error = ? WHERE id = ?",
            (
                job.status,
                job.completed_at,
                job.expires_at,
                job.result_status,
                job.result_body,
                json.dumps(job.result_headers),
                job.error,
                job.id,
            ),
        )

    async def release(self, job_ids: list[str]) -> None:
        self._db.executemany(
            "UPDATE jobs SET status = 'pending' WHERE id = ? AND status = 'running'", [(i,) for i in job_ids]
        )

    async def delete_expired(self, now: float) -> int:
        cursor = self._db.execute("DELETE FROM jobs WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,))
        return cursor.rowcount

    async def close(self) -> None:
        self._db.close()


def _row(job: Job) -> tuple[object, ...]:
    return (
        job.id,
        job.owner,
        _PRINCIPAL.encode(job.principal).decode() if job.principal else None,
        job.dialect,
        job.route_prefix,
        job.model,
        job.body,
        json.dumps(job.headers),
        job.status,
        job.attempts,
        job.created_at,
        job.started_at,
        job.completed_at,
        job.expires_at,
        job.ttl_s,
        job.result_status,
        job.result_body,
        json.dumps(job.result_headers),
        job.error,
    )


def _job(row: Any) -> Job:  # a row of COLUMNS
    (id_, owner, principal, dialect, prefix, model, body, headers, status, attempts, created, started,
     completed, expires, ttl, result_status, result_body, result_headers, error) = row  # fmt: skip
    return Job(
        id=id_,
        owner=owner,
        principal=_PRINCIPAL_DECODER.decode(principal) if principal else None,
        dialect=dialect,
        route_prefix=prefix,
        model=model,
        body=body,
        headers=[tuple(h) for h in json.loads(headers)],
        status=status,
        attempts=attempts,
        created_at=created,
        started_at=started,
        completed_at=completed,
        expires_at=expires,
        ttl_s=ttl,
        result_status=result_status,
        result_body=result_body,
        result_headers=[tuple(h) for h in json.loads(result_headers)],
        error=error,
    )
