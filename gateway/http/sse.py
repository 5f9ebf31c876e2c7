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
        self._last_write = time.monotonic()
        self._keepalive: asyncio.Task[None] | None = None

    async def open(self) -> None:
        await self.response.prepare(self._request)
        self._keepalive = asyncio.create_task(self._keep_alive())

    async def write(self, data: bytes) -> None:
        self._last_write = time.monotonic()
        await self.response.write(data)

    async def close(self) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keepalive
        with contextlib.suppress(ConnectionResetError):
            await self.response.write_eof()

    async def _keep_alive(self) -> None:
        with contextlib.suppress(ConnectionResetError):
            while True:
                await asyncio.sleep(self._keepalive_s)
                if time.monotonic() - self._last_write >= self._keepalive_s:
                    await self.write(KEEPALIVE)
