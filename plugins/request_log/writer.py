"""The writer: rows are queued by the observers (never waiting) and inserted in batches by one task; each
written row is passed on to the live tails (`/api/logs/stream`)."""

from __future__ import annotations

import asyncio
import logging

import msgspec

from .rows import Row
from .store import LogStore, StoreUnavailable

log = logging.getLogger("gateway.logging")
TAIL_BACKLOG = 1_000  # rows a slow tail may fall behind by before it misses some
BUSY_ROWS = 100  # rows that arrived within one flush interval: the gateway is busy, gather another interval
BUSY_INTERVALS = 5  # intervals rows gather at most (1 s at the default 0.2 s) unless a batch fills first
RETRY_SECONDS = 1.0  # a store that cannot be reached is tried again this often, its rows kept meanwhile


class RequestLog:
    def __init__(self, store: LogStore, queue_size: int, batch_size: int, flush_interval: float = 0.0) -> None:
        self.store = store
        # A plain list, not an asyncio.Queue: one writer takes whole batches, and a row is queued by every call.
        self._rows: list[Row] = []
        self._queue_size = queue_size
        self._batch_size = batch_size
        self._interval = flush_interval
        self._pending = asyncio.Event()  # rows are queued
        self._tails: set[asyncio.Queue[Row]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self.dropped = 0  # rows lost: the queue was full, or their batch failed to write
        self.written = 0
        self.batches = 0  # transactions written
        self._down_since_dropped: int | None = None  # `dropped` when the store stopped answering; None: it answers

    @property
    def backlog(self) -> int:
        """Rows queued, not yet written."""
        return len(self._rows)

    def add(self, row: Row) -> None:
        """Queue a row; with the queue full it is dropped and counted (a request never waits for the disk)."""
        if len(self._rows) >= self._queue_size:
            self.dropped += 1
            if self.dropped & (self.dropped - 1) == 0:  # 1, 2, 4, 8...: warned about, without flooding the log
                log.warning("request log queue full: %d rows dropped so far", self.dropped)
            return
        self._rows.append(row)
        if not self._pending.is_set():
            self._idle.clear()
            self._pending.set()

    async def run(self) -> None:
        """Write batches until cancelled (owned by the plugin's lifespan). Rows stay queued until they are
        written, so a cancel while rows gather loses none: `flush` writes them."""
        while True:
            await self._pending.wait()
            await self._gather()
            if (batch := self._take()) and not await self._write(batch):
                await asyncio.sleep(RETRY_SECONDS)  # the store is down: its rows wait, within queue_size
            if not self._rows:
                self._pending.clear()
                self._idle.set()

    async def _gather(self) -> None:
        """Let rows gather for one interval; while they keep coming fast, for more (up to BUSY_INTERVALS), so
        that a busy gateway writes big transactions: a row cost SQLite about 40 us of CPU in a transaction of
        100 rows, 20 in one of 300, 11 in one of 3,000 (logs.db's 5 indexes, 2 cores). A quiet one writes after
        one interval, as rows trickle in."""
        for _ in range(BUSY_INTERVALS if self._interval else 0):
            before = len(self._rows)
            if before >= self._batch_size:
                return
            await asyncio.sleep(self._interval)
            if len(self._rows) - before < BUSY_ROWS:
                return

    def _take(self) -> list[Row]:
        rows = self._rows
        if len(rows) <= self._batch_size:
            self._rows = []
            return rows
        batch = rows[: self._batch_size]
        del rows[: self._batch_size]
        return batch

    async def flush(self) -> None:
        """Write what is queued now (at shutdown, after the observers have run)."""
        while self._rows:
            if not await self._write(self._take()):  # the store is down at shutdown: nothing can keep these
                log.warning("request log: %d rows dropped at shutdown (its store cannot be reached)", len(self._rows))
                self.dropped += len(self._rows)
                self._rows = []

    async def idle(self) -> None:
        """Until every queued row is written."""
        await self._idle.wait()

    async def _write(self, batch: list[Row]) -> bool:
        """Write a batch; False when the store cannot be reached now (the batch is queued again)."""
        try:
            given = await self.store.insert(batch, ids=bool(self._tails))
        except StoreUnavailable as error:
            self._requeue(batch, error)
            return False
        except Exception:
            self.dropped += len(batch)
            log.exception("request log: a batch of %d rows could not be written", len(batch))
            return True
        if self._down_since_dropped is not None:
            lost, self._down_since_dropped = self.dropped - self._down_since_dropped, None
            log.warning("request log: its store answers again; %d rows were dropped while it did not", lost)
        self.written += len(batch)
        self.batches += 1
        if self._tails and given is not None:
            self._publish([msgspec.structs.replace(row, id=i) for row, i in zip(batch, given, strict=True)])
        return True

    def _requeue(self, batch: list[Row], error: StoreUnavailable) -> None:
        """The batch goes back to the head of the queue; what exceeds `queue_size` (the newest rows) is dropped."""
        if self._down_since_dropped is None:  # one warning per outage, not one per try
            self._down_since_dropped = self.dropped
            log.warning(
                "request log: %s; rows are kept (up to %d) and written when it answers", error, self._queue_size
            )
        self._rows[:0] = batch
        if (excess := len(self._rows) - self._queue_size) > 0:
            del self._rows[-excess:]
            self.dropped += excess  # told in the warning when the store is back

    def _publish(self, rows: list[Row]) -> None:
        for tail in self._tails:
            for row in rows:
                if tail.full():
                    break  # this reader is too slow: it misses rows rather than growing without bound
                tail.put_nowait(row)

    def subscribe(self) -> asyncio.Queue[Row]:
        tail: asyncio.Queue[Row] = asyncio.Queue(TAIL_BACKLOG)
        self._tails.add(tail)
        return tail

    def unsubscribe(self, tail: asyncio.Queue[Row]) -> None:
        self._tails.discard(tail)

    async def purge_every(self, interval: float, retention_days: int) -> None:
        """Delete rows past retention now and then every `interval` seconds (owned by the plugin's lifespan)."""
        while True:
            try:
                removed = await self.store.purge(retention_days)
                if removed:
                    log.info("request log: %d rows older than %d days purged", removed, retention_days)
            except StoreUnavailable as error:  # an outage, warned about by the writer too: no traceback
                log.warning("request log: the retention purge waits for its store (%s)", error)
            except Exception:
                log.exception("request log: the retention purge failed")
            await asyncio.sleep(interval)
