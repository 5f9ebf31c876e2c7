"""Back-pressure per provider: at most `concurrency` upstream calls in flight and `buffer_size` waiting; beyond
that a call is refused at once (429) when `client.drop_excess_requests` is set, else it waits its turn."""

from __future__ import annotations

import asyncio
from collections import deque

from ..config import ConcurrencyAndBufferSize
from ..errors import UpstreamError

BUSY_RETRY_AFTER_S = 1.0


class Gate:
    def __init__(self, name: str, limits: ConcurrencyAndBufferSize, drop_excess: bool) -> None:
        self._name = name
        self._free = limits.concurrency
        self._buffer = limits.buffer_size
        self._drop_excess = drop_excess
        self._waiting: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def acquire(self) -> None:
        if self._free > 0 and not self._waiting:
            self._free -= 1
            return
        if self._drop_excess and len(self._waiting) >= self._buffer:
            # An upstream-side refusal (429), so that a fallback target can still serve the call.
            raise UpstreamError(
                f"provider {self._name!r} is at capacity: its concurrency is in use and {self._buffer} calls wait",
                status=429,
                kind="rate_limit_error",
                retry_after=BUSY_RETRY_AFTER_S,
            )
        turn = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.release()  # the slot was handed over just as the caller left: pass it on
            else:
                self._waiting.remove(turn)
            raise

    def release(self) -> None:
        """Hand the slot to the first caller still waiting, or free it."""
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self._free += 1
