"""Throttling of failed admin logins: a client address that fails too often in a window waits it out (429).

In memory and per process, bounded in size (the oldest addresses are forgotten first). Behind a reverse proxy
every caller shares the proxy's address, so a flood of bad tokens locks the admin API for everyone for a minute:
the price of not letting anyone guess the token at wire speed.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from gateway import RateLimited

MAX_FAILURES = 10  # per address and window
WINDOW_S = 60.0
MAX_ADDRESSES = 10_000


class AdminGuard:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: OrderedDict[str, tuple[float, int]] = OrderedDict()  # address -> (window start, count)

    def set_clock(self, clock: Callable[[], float]) -> None:
        """Tests move time with an injected clock."""
        self._clock = clock

    def check(self, address: str) -> None:
        """Raise RateLimited while `address` has used up its failures of the current window."""
        start, count = self._failures.get(address, (0.0, 0))
        wait = start + WINDOW_S - self._clock()
        if count >= MAX_FAILURES and wait > 0:
            raise RateLimited("too many failed admin logins from this address; try again later", retry_after=wait)

    def failed(self, address: str) -> None:
        now = self._clock()
        start, count = self._failures.pop(address, (now, 0))
        if now - start >= WINDOW_S:
            start, count = now, 0
        self._failures[address] = (start, count + 1)
        while len(self._failures) > MAX_ADDRESSES:
            self._failures.popitem(last=False)
