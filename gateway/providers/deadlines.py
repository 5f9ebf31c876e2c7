"""Deadlines of an upstream stream: a silence limit that only content resets, and a limit on the whole stream.

aiohttp's `sock_read` timeout is reset by any byte, so an upstream that sends nothing but keep-alives (`: ping`
comments, Anthropic's `event: ping`) would hold a client forever. Here the reading loop tells the watchdog when
content arrives; keep-alives do not count. One timer per stream, re-armed only when it fires: a chunk costs a
clock read and two attribute writes, not a timer of its own.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from ..errors import UpstreamTimeout

END = b"\n\n"
# While the consumer, not the upstream, is holding things up (a slow client), the watchdog looks again this soon.
RECHECK_S = 0.5


class StreamDeadlines:
    """Cancels the task waiting on an upstream read once the stream was silent (no content) for `idle_s`, or
    ran `max_s` in all; the reading loop turns that cancellation into UpstreamTimeout with `expired()`."""

    def __init__(self, idle_s: float, max_s: float | None, started: float | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        # The task that reads the stream (one per stream) and its cancellation count before: a cancellation
        # beyond ours is someone else's and goes on (as asyncio.timeout does).
        self.task = asyncio.current_task()
        self._cancelling = self.task.cancelling() if self.task is not None else 0
        now = self._loop.time()
        self._idle_s = idle_s
        self._max_s = max_s
        self._end = (started if started is not None else now) + max_s if max_s else math.inf
        self.quiet_since = now  # when the current silence began; the reading loop moves it on content
        self.waiting: asyncio.Task[Any] | None = None  # the task awaiting a read, while it waits
        self._fired = ""
        self._handle = self._loop.call_at(min(now + idle_s, self._end), self._check)

    def content(self) -> None:
        """Content arrived (call it before waiting for the next read)."""
        self.quiet_since = now = self._loop.time()
        if now >= self._end:
            self._fired = "total"
            raise self.error()

    def expired(self) -> bool:
        """After a CancelledError in a read: True when the watchdog caused it (and no one else cancelled)."""
        return bool(self._fired) and self.task is not None and self.task.uncancel() <= self._cancelling

    def error(self) -> UpstreamTimeout:
        if self._fired == "total":
            return UpstreamTimeout(f"upstream stream ran longer than {self._max_s:g}s in all")
        return UpstreamTimeout(f"upstream stream was silent for {self._idle_s:g}s (keep-alives do not count)")

    def close(self) -> None:
        self._handle.cancel()

    def _check(self) -> None:
        now = self._loop.time()
        due = min(self.quiet_since + self._idle_s, self._end)
        if now < due:
            self._handle = self._loop.call_at(due, self._check)
        elif self.waiting is None:
            self._handle = self._loop.call_at(now + RECHECK_S, self._check)
        else:
            self._fired = "total" if now >= self._end else "idle"
            self.waiting.cancel()


KEEPALIVE_STARTS = (b":", b"event: ping")  # a batch starting otherwise holds content: no need to look further


def keepalive_only(raw: bytes) -> bool:
    """True when every frame of an SSE batch is a comment or a ping event: nothing the silence limit counts."""
    if not raw.startswith(KEEPALIVE_STARTS):
        return False  # the usual case, decided without a split: content frames start with event: or data:
    for frame in raw.split(END):
        lines = [line for line in frame.split(b"\n") if line]
        if lines and not (lines[0] == b"event: ping" or all(line.startswith(b":") for line in lines)):
            return False
    return True
