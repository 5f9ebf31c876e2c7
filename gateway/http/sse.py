"""Server-Sent Events towards the client: headers, frames written at once, keep-alives during silences."""

from __future__ import annotations

import asyncio
import contextlib
import time

from aiohttp import web

KEEPALIVE_INTERVAL_S = 15.0
# A comment line: both SDKs' decoders skip it, so it is safe before message_start and between chunks alike.
KEEPALIVE = b": keepalive\n\n"


class SseStream:
    """One SSE response. `open()` sends the headers; `write()` sends frames; `close()` ends it."""

    def __init__(self, request: web.Request, headers: dict[str, str], keepalive_s: float = KEEPALIVE_INTERVAL_S):
        self._request = request
        self.response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
                **headers,
            }
        )
        self._keepalive_s = keepalive_s
        self._last_write = 0.0
        # A timer, not a task per stream: most streams end before it ever fires.
        self._timer: asyncio.TimerHandle | None = None
        self._keepalive: asyncio.Future[None] | None = None  # held so the write is not garbage-collected

    async def open(self) -> None:
        await self.response.prepare(self._request)
        self._last_write = time.monotonic()
        self._timer = asyncio.get_running_loop().call_later(self._keepalive_s, self._check_idle)

    async def write(self, data: bytes) -> None:
        self._last_write = time.monotonic()
        await self.response.write(data)

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        with contextlib.suppress(ConnectionResetError):
            await self.response.write_eof()

    def _check_idle(self) -> None:
        idle = time.monotonic() - self._last_write
        if idle >= self._keepalive_s:
            self._last_write = time.monotonic()
            self._keepalive = asyncio.ensure_future(self._send_keepalive())
            idle = 0.0
        self._timer = asyncio.get_running_loop().call_later(self._keepalive_s - idle, self._check_idle)

    async def _send_keepalive(self) -> None:
        with contextlib.suppress(ConnectionResetError):
            await self.response.write(KEEPALIVE)
