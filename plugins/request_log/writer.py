"""The writer: rows are queued by the observers (never waiting) and inserted in batches by one task; each
written row is passed on to the live tails (`/api/logs/stream`)."""

from __future__ import annotations

import asyncio
import logging

import msgspec

from .rows import Row
from .store import LogStore

log = logging.getLogger("gateway.logging")
TAIL_BACKLOG = 1_000  # rows a slow tail may fall behind by before it misses some


class RequestLog:
    def __init__(self, store: LogStore, queue_size: int, batch_size: int, flush_interval: float = 0.0) -> None:
        self.store = store
        self._queue: asyncio.Queue[Row] = asyncio.Queue(queue_size)
        self._batch_size = batch_size
        self._interval = flush_interval
        self._pending = asyncio.Event()  # rows are queued
        self._tails: set[asyncio.Queue[Row]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self.dropped = 0  # rows lost: the queue was full, or their batch failed to write
        self.written = 0

    @property
    def backlog(self) -> int:
        """Rows queued, not yet written."""
        return self._queue.qsize()

    def add(self, row: Row) -> None:
        """Queue a row; with the queue full it is dropped and counted (a request never waits for the disk)."""
        try:
            self._queue.put_nowait(row)
            self._idle.clear()
            self._pending.set()
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped & (self.dropped - 1) == 0:  # 1, 2, 4, 8...: warned about, without flooding the log
                log.warning("request log queue full: %d rows dropped so far", self.dropped)

    async def run(self) -> None:
        """Write batches until cancelled (owned by the plugin's lifespan). Rows stay in the queue until they are
        written, so a cancel while rows gather loses none: `flush` writes them."""
        while True:
            await self._pending.wait()
            if self._interval and self._queue.qsize() < self._batch_size:
                await asyncio.sleep(self._interval)
            count = min(self._batch_size, self._queue.qsize())
            await self._write([self._queue.get_nowait() for _ in range(count)])
            if self._queue.empty():
                self._pending.clear()
                self._idle.set()

    async def flush(self) -> None:
        """Write what is queued now (at shutdown, after the observers have run)."""
        while not self._queue.empty():
            batch = [self._queue.get_nowait() for _ in range(min(self._batch_size, self._queue.qsize()))]
            await self._write(batch)

    async def idle(self) -> None:
        """Until every queued row is written."""
        await self._idle.wait()

    async def _write(self, batch: list[Row]) -> None:
        try:
            last = await self.store.insert(batch, ids=bool(self._tails))
        except Exception:
            self.dropped += len(batch)
            log.exception("request log: a batch of %d rows could not be written", len(batch))
            return
        self.written += len(batch)
        if self._tails and last is not None:
            first = last - len(batch) + 1
            self._publish([msgspec.structs.replace(row, id=first + i) for i, row in enumerate(batch)])

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
            except Exception:
                log.exception("request log: the retention purge failed")
            await asyncio.sleep(interval)
