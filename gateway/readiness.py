"""`/ready` for load balancers, and the drain of a stopping gateway.

`/health` says the process answers (liveness); `/ready` says it should be sent traffic: 200 once the app has
started, 503 while it drains (after SIGTERM or SIGINT) or while a readiness check fails. Plugins and stores add
checks with `add_readiness_check` (a Redis ping, say); each runs on every `/ready` under its own timeout, so a
hung dependency makes the answer a 503, never a hang. The body names what is not ready, never why in a way that
could carry a secret: a check's own words only when it raises `NotReady`, otherwise the exception's type.

The drain: the listeners close, `/ready` turns 503, requests in flight finish; streams still open when the
deadline (`--drain-timeout`) comes are cancelled and end with their dialect's terminal error event
(`Drain.expire`), not a dropped connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from .keys import DRAIN

log = logging.getLogger("gateway")

Check = Callable[[], Awaitable[object]]
DEFAULT_CHECK_TIMEOUT_S = 1.0
DRAINING = "draining"  # the name /ready gives a drain (no check may take it)
# aiohttp cancels handlers still running this long after the drain deadline: streams end themselves at the
# deadline (with their error event), so the margin is theirs to write it.
DRAIN_MARGIN_S = 2.0


class NotReady(Exception):
    """Raised by a readiness check: its message is shown in `/ready`'s body (so it must say nothing secret)."""


@dataclass(frozen=True)
class ReadinessCheck:
    name: str
    check: Check
    timeout_s: float


@dataclass
class Drain:
    """The app's readiness state: its checks, whether it drains, and the streams a drain deadline ends."""

    checks: list[ReadinessCheck] = field(default_factory=list)
    draining: bool = False
    expired: bool = False  # the drain deadline came: open streams are being ended
    streams: set[asyncio.Task[object]] = field(default_factory=set)

    @contextlib.asynccontextmanager
    async def stream(self) -> AsyncIterator[None]:
        """While a stream is written: the deadline cancels it (the stream then writes its error event)."""
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - a stream always runs in its handler's task
            yield
            return
        self.streams.add(task)
        try:
            yield
        finally:
            self.streams.discard(task)

    def expire(self) -> None:
        """The deadline: every stream still open is cancelled, to end with its terminal error event."""
        self.expired = True
        for task in list(self.streams):
            task.cancel()


def add_readiness_check(
    app: web.Application, name: str, check: Check, *, timeout_s: float = DEFAULT_CHECK_TIMEOUT_S
) -> None:
    """Make `/ready` answer 503 while `check()` raises or takes longer than `timeout_s` (call it at start-up,
    from `gw_lifespan` or `gw_register_routes`). `name` is shown in the body; raise `NotReady(message)` to say
    why in words of your own (nothing secret)."""
    if not name or name == DRAINING or any(c.name == name for c in app[DRAIN].checks):
        raise ValueError(f"readiness check name {name!r} is empty or already taken")
    app[DRAIN].checks.append(ReadinessCheck(name, check, timeout_s))


async def ready(request: web.Request) -> web.Response:
    """GET /ready: 200 `{"status": "ready"}` or 503 `{"status": "not ready", "failing": {name: why}}`."""
    drain = request.app[DRAIN]
    failing: dict[str, str] = {}
    if drain.draining:
        failing[DRAINING] = "the gateway is shutting down"
    results = await asyncio.gather(*(_run(c) for c in drain.checks))
    failing.update({c.name: why for c, why in zip(drain.checks, results, strict=True) if why is not None})
    body: dict[str, object] = {"status": "not ready" if failing else "ready", "pid": os.getpid()}
    if failing:
        body["failing"] = failing
    return web.json_response(body, status=503 if failing else 200, headers={"Cache-Control": "no-store"})


async def _run(check: ReadinessCheck) -> str | None:
    """None when the check passed, else why not (its NotReady message, a timeout, or the exception's type)."""
    try:
        async with asyncio.timeout(check.timeout_s):
            await check.check()
    except NotReady as exc:
        return str(exc) or "not ready"
    except TimeoutError:
        return f"no answer within {check.timeout_s:g} s"
    except Exception as exc:  # its message may carry a URL with a password: only the type is shown
        return f"failed ({type(exc).__name__})"
    return None


async def drain(app: web.Application, close: Callable[[], Awaitable[None]], timeout_s: float) -> None:
    """Stop serving gracefully: `close` stops the listeners and waits for requests in flight (aiohttp's
    runner, given `timeout_s + DRAIN_MARGIN_S`); streams still open at `timeout_s` are ended."""
    state = app[DRAIN]
    state.draining = True
    log.info("draining (pid %d): no new connections; requests in flight have %g s to finish", os.getpid(), timeout_s)
    timer = asyncio.get_running_loop().call_later(timeout_s, state.expire)
    try:
        await close()
    finally:
        timer.cancel()
