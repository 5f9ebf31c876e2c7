"""The request log's writer: a busy gateway's rows go in few big transactions (cheaper per row), a quiet one's
after one flush interval."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

from gateway_plugins.request_log.rows import Row
from gateway_plugins.request_log.store import SqliteLogStore
from gateway_plugins.request_log.writer import BUSY_INTERVALS, BUSY_ROWS, RequestLog

INTERVAL = 0.2


def _row(request_id: str) -> Row:
    return Row(time=time.time(), request_id=request_id, route="/v1/messages", dialect="anthropic", model="mock/m")


@contextlib.asynccontextmanager
async def running(tmp_path: Path, batch_size: int = 100_000) -> AsyncIterator[RequestLog]:
    store = await SqliteLogStore.open(tmp_path / "logs.db", clock=time.time)
    log = RequestLog(store, queue_size=100_000, batch_size=batch_size, flush_interval=INTERVAL)
    task = asyncio.create_task(log.run())
    try:
        yield log
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await store.close()


async def test_rows_that_keep_coming_fast_gather_into_one_transaction_per_several_intervals(tmp_path: Path) -> None:
    async with running(tmp_path) as log:
        rounds = BUSY_INTERVALS * 4  # rows for BUSY_INTERVALS intervals, 2 * BUSY_ROWS in each
        for i in range(rounds):
            for j in range(BUSY_ROWS // 2):
                log.add(_row(f"r{i}-{j}"))
            await asyncio.sleep(INTERVAL / 4)
        await asyncio.wait_for(log.idle(), 10 * INTERVAL * BUSY_INTERVALS)
        assert log.written == rounds * (BUSY_ROWS // 2)
        # One transaction per interval would be BUSY_INTERVALS of them.
        assert log.batches <= BUSY_INTERVALS // 2


async def test_a_lone_row_is_written_after_one_interval(tmp_path: Path) -> None:
    async with running(tmp_path) as log:
        started = time.monotonic()
        log.add(_row("lone"))
        await asyncio.wait_for(log.idle(), 10 * INTERVAL * BUSY_INTERVALS)
        took = time.monotonic() - started
        assert (log.written, log.batches) == (1, 1)
        assert INTERVAL <= took < INTERVAL * (BUSY_INTERVALS - 1)


async def test_a_full_batch_is_written_without_waiting_for_more(tmp_path: Path) -> None:
    async with running(tmp_path, batch_size=50) as log:
        started = time.monotonic()
        for i in range(120):
            log.add(_row(f"r{i}"))
        await asyncio.wait_for(log.idle(), 10 * INTERVAL * BUSY_INTERVALS)
        assert (log.written, log.batches) == (120, 3)
        assert time.monotonic() - started < INTERVAL * (BUSY_INTERVALS - 1)
