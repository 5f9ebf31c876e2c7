"""Back-pressure per provider: at most `concurrency` upstream calls in flight and `buffer_size` waiting.

Beyond that, a call is refused at once with a 429 and `retry-after`; a waiting call that gets no slot within
`queue_timeout_in_seconds` is refused the same way. Both refusals are upstream-side (429), so that a fallback
target can still serve the call. Nothing waits without limit: a full buffer never turns into an unbounded queue
of callers (Bifrost's `drop_excess_requests` is therefore always in effect here).
"""

from __future__ import annotations

import asyncio
from collections import deque

from ..config import ConcurrencyAndBufferSize
from ..errors import UpstreamError
from .health import GateState

BUSY_RETRY_AFTER_S = 1.0


class Gate:
    def __init__(self, name: str, limits: ConcurrencyAndBufferSize) -> None:
        self._name = name
        self._limit = limits.concurrency
        self._free = limits.concurrency
        self._buffer = limits.buffer_size
        self._wait_s = limits.queue_timeout_in_seconds
        self._waiting: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def state(self) -> GateState:
        return GateState(self._limit - self._free, len(self._waiting), self._limit, self._buffer)

    async def acquire(self) -> None:
        if self._free > 0 and not self._waiting:
            self._free -= 1
            return
        if len(self._waiting) >= self._buffer:
            raise self._busy(f"its concurrency is in use and {self._buffer} calls wait")
        turn = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        try:
            async with asyncio.timeout(self._wait_s):
                await turn
        except (asyncio.CancelledError, TimeoutError) as exc:
            if turn.done() and not turn.cancelled():
                self.release()  # the slot was handed over just as the caller left: pass it on
            else:
                self._waiting.remove(turn)
            if isinstance(exc, TimeoutError):
                raise self._busy(f"no upstream slot came free within {self._wait_s:g}s") from None
            raise

    def release(self) -> None:
        """Hand the slot to the first caller still waiting, or free it."""
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self._free += 1

    def _busy(self, why: str) -> UpstreamError:
        return UpstreamError(
            f"provider {self._name!r} is at capacity: {why}",
            status=429,
            kind="rate_limit_error",
            retry_after=BUSY_RETRY_AFTER_S,
        )
