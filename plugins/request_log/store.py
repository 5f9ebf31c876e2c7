"""What the request log keeps its rows in: the `LogStore` protocol the writer and the API call, and its SQLite
implementation (the default; `logs.db` in the app dir): WAL (readers never wait for the writer), batched inserts,
indexes for the filters of `/api/logs`, and the retention purge. The PostgreSQL one is `postgres.py`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import aiosqlite
import msgspec
from msgspec.structs import astuple

from .query import Filters, Page, Stats, cursor_of, group_stats, page_query
from .rows import Row
from .series import PERCENTILE_SAMPLE, Bucket, Span, bucket_series

SCHEMA = """
CREATE TABLE IF NOT EXISTS logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL, request_id TEXT NOT NULL, route TEXT NOT NULL, dialect TEXT NOT NULL,
    stream INTEGER NOT NULL, virtual_key TEXT, team TEXT, model TEXT NOT NULL, provider TEXT,
    upstream_model TEXT, fallback_trail TEXT NOT NULL, fallback_index INTEGER NOT NULL, attempts INTEGER NOT NULL,
    status INTEGER NOT NULL, error TEXT, latency_ms REAL NOT NULL, ttft_ms REAL, overhead_ms REAL,
    input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cache_read_tokens INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL, cost_usd REAL, cache_hit INTEGER NOT NULL, job_id TEXT, content TEXT
);
CREATE INDEX IF NOT EXISTS logs_time ON logs (time);
CREATE INDEX IF NOT EXISTS logs_provider ON logs (provider, time);
CREATE INDEX IF NOT EXISTS logs_model ON logs (model, time);
CREATE INDEX IF NOT EXISTS logs_key ON logs (virtual_key, time);
CREATE INDEX IF NOT EXISTS logs_status ON logs (status, time);
"""
# Columns added since the first schema: a logs.db written before them gains them at open (ALTER TABLE), its
# old rows reading NULL.
ADDED = {"overhead_ms": "REAL"}
COLUMNS = tuple(name for name in Row.__struct_fields__ if name != "id")
_INSERT_HEAD = f"INSERT INTO logs ({', '.join(COLUMNS)}) VALUES "
_ONE_ROW = f"({', '.join('?' * len(COLUMNS))})"
ROWS_PER_INSERT = 100  # x ~25 columns: well under SQLite's 32,766 parameters a statement
_FULL_INSERT = _INSERT_HEAD + ", ".join([_ONE_ROW] * ROWS_PER_INSERT)
_TRAIL_AT = COLUMNS.index("fallback_trail")
_TRAIL = msgspec.json.Encoder()
DAY = 86_400.0


class StoreUnavailable(Exception):
    """The store's database cannot be reached now (its message names no address): the writer keeps the batch
    and tries again, the API answers 503. Any other error of a write loses its batch."""


class LogStore(Protocol):
    """The store behind the writer (`insert`, `purge`) and the API (`page`, `stats`, `series`); every answer is
    the same whichever database holds the rows."""

    clock: Callable[[], float]  # Unix seconds; injectable so retention can be tested without waiting days

    async def insert(self, rows: Sequence[Row], ids: bool = False) -> Sequence[int] | None:
        """Write a batch; with `ids`, answer the ids given to its rows, in order."""
        ...

    async def purge(self, retention_days: int) -> int: ...
    async def page(self, filters: Filters) -> Page: ...
    async def stats(self, filters: Filters, by: str) -> list[Stats]: ...
    async def series(self, span: Span, filters: Filters, sample: int = PERCENTILE_SAMPLE) -> list[Bucket]: ...


class SqliteLogStore:
    """Two connections: one the writer inserts with, one queries read from (each aiosqlite runs in a thread)."""

    def __init__(self, writer: aiosqlite.Connection, reader: aiosqlite.Connection, clock: Callable[[], float]):
        self._writer = writer
        self._reader = reader
        self.clock = clock  # Unix seconds; injectable so retention can be tested without waiting days

    @classmethod
    async def open(cls, path: Path, clock: Callable[[], float]) -> SqliteLogStore:
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = await aiosqlite.connect(path)
        await writer.execute("PRAGMA journal_mode=WAL")
        await writer.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a crash loses at most the last batch
        await writer.executescript(SCHEMA)
        await _migrate(writer)
        await writer.commit()
        reader = await aiosqlite.connect(path)
        reader.row_factory = aiosqlite.Row
        return cls(writer, reader, clock)

    async def insert(self, rows: Sequence[Row], ids: bool = False) -> Sequence[int] | None:
        """Write a batch in one transaction; with `ids`, answer its rows' ids (given in order: one writer, so
        they end at the last one), else None (asking costs a round trip to the database's thread)."""
        # Many rows a statement: SQLite's thread lets the GIL go at each statement's step and must win it back
        # from the event loop after it, which cost the loop ~1 context switch and ~60-90 us of CPU a row at
        # concurrency 64 with one row a step; ROWS_PER_INSERT rows a step make that once per ROWS_PER_INSERT rows.
        # And the full chunks go in one executemany: one hop to the database's thread for them all, not one each.
        whole = len(rows) - len(rows) % ROWS_PER_INSERT
        if whole:
            chunks = [_flat(rows[start : start + ROWS_PER_INSERT]) for start in range(0, whole, ROWS_PER_INSERT)]
            await self._writer.executemany(_FULL_INSERT, chunks)
        if rest := rows[whole:]:
            await self._writer.execute(_INSERT_HEAD + ", ".join([_ONE_ROW] * len(rest)), _flat(rest))
        await self._writer.commit()
        if not ids:
            return None
        async with self._writer.execute("SELECT last_insert_rowid()") as cursor:
            last = await cursor.fetchone()
        return range(int(last[0]) - len(rows) + 1, int(last[0]) + 1) if last else None

    async def purge(self, retention_days: int) -> int:
        """Delete the rows older than the retention; answer how many went."""
        cursor = await self._writer.execute("DELETE FROM logs WHERE time < ?", (self.clock() - retention_days * DAY,))
        await self._writer.commit()
        return cursor.rowcount

    async def page(self, filters: Filters) -> Page:
        sql, params = page_query(filters)
        async with self._reader.execute(sql, params) as cursor:
            found = [_row(dict(r)) for r in await cursor.fetchall()]
        more = len(found) > filters.limit
        found = found[: filters.limit]
        return Page(data=found, next_cursor=cursor_of(found[-1]) if more and found else None)

    async def stats(self, filters: Filters, by: str) -> list[Stats]:
        return await group_stats(self._reader, filters, by)

    async def series(self, span: Span, filters: Filters, sample: int = PERCENTILE_SAMPLE) -> list[Bucket]:
        return await bucket_series(self._reader, span, filters, sample)

    async def close(self) -> None:
        await self._writer.close()
        await self._reader.close()


async def _migrate(db: aiosqlite.Connection) -> None:
    async with db.execute("PRAGMA table_info(logs)") as cursor:
        present = {str(row[1]) for row in await cursor.fetchall()}
    for name, kind in ADDED.items():
        if name not in present:
            await db.execute(f"ALTER TABLE logs ADD COLUMN {name} {kind}")


def _flat(rows: Sequence[Row]) -> list[object]:
    """The rows' values, one after another, in COLUMNS order (`id` is SQLite's to give; the trail as JSON)."""
    values: list[object] = []
    for row in rows:
        start = len(values)
        values += astuple(row)[1:]
        values[start + _TRAIL_AT] = _TRAIL.encode(values[start + _TRAIL_AT]).decode()
    return values


def _row(data: dict[str, object]) -> Row:
    data["fallback_trail"] = msgspec.json.decode(str(data["fallback_trail"]))
    return msgspec.convert(data, Row, strict=False)
