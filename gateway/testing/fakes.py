"""A scriptable fake upstream provider: a real aiohttp server on 127.0.0.1 that records every request (part of
the plugin author's kit, `gateway.testing`; the wire builders are in `gateway.testing.wire`).

Usage::

    async with FakeUpstream() as up:
        up.script("/v1/chat/completions", Reply.error(429, "rate_limit_exceeded", "slow", dialect="openai"),
                  Reply.sse(openai_sse(("Hi",))))
        ...point the gateway at up.url...
        assert up.requests_to("/v1/chat/completions")[1].json["stream"] is True

The server runs with handler cancellation on, so a client that goes away cancels the handler; that is how
`closed_streams` and `disconnects` are counted.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from .wire import anthropic_error, dumps, openai_error

Dialect = Literal["anthropic", "openai"]
ReplyKind = Literal["body", "sse", "hang", "drop"]
SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
# Header carrying the request id that each SDK exposes as `.request_id`.
REQUEST_ID_HEADER = {"anthropic": "request-id", "openai": "x-request-id"}


def _merge(base: Mapping[str, str], extra: Mapping[str, str] | None) -> CIMultiDictProxy[str]:
    """Caller headers replace defaults case-insensitively, so no header is sent twice."""
    merged = CIMultiDict(base)
    merged.update(extra or {})
    return CIMultiDictProxy(merged)


@dataclass(frozen=True, kw_only=True)
class Reply:
    """One scripted answer. Build it with the static constructors, not directly."""

    kind: ReplyKind
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    frames: tuple[bytes, ...] = ()
    delay: float = 0.0
    close_after: int | None = None
    hang_after: int | None = None

    @staticmethod
    def json(body: object, status: int = 200, headers: Mapping[str, str] | None = None, *, delay: float = 0.0) -> Reply:
        """A JSON response, sent after `delay` seconds (a slow upstream)."""
        return Reply.raw(dumps(body).encode(), status, headers, delay=delay)

    @staticmethod
    def raw(
        body: bytes,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        *,
        content_type: str = "application/json",
        delay: float = 0.0,
    ) -> Reply:
        """Exact bytes, e.g. a malformed body or an HTML error page from a proxy."""
        merged = _merge({"Content-Type": content_type}, headers)
        return Reply(kind="body", status=status, headers=merged, body=body, delay=delay)

    @staticmethod
    def sse(
        frames: Sequence[bytes],
        *,
        delay: float = 0.0,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        close_after: int | None = None,
        hang_after: int | None = None,
    ) -> Reply:
        """Stream frames with a flush each and `delay` seconds between them.

        close_after=N closes the TCP connection after N frames without ending the chunked body (a dropped
        connection); hang_after=N sends N frames and then stalls until the client leaves or the fake closes.
        """
        merged = _merge(SSE_HEADERS, headers)
        return Reply(
            kind="sse",
            status=status,
            headers=merged,
            frames=tuple(frames),
            delay=delay,
            close_after=close_after,
            hang_after=hang_after,
        )

    @staticmethod
    def error(
        status: int,
        kind: str,
        message: str,
        *,
        dialect: Dialect,
        headers: Mapping[str, str] | None = None,
        code: str | None = None,
    ) -> Reply:
        """The dialect's error body, with its request-id header (`req_fake_error`) unless given."""
        body = anthropic_error(kind, message) if dialect == "anthropic" else openai_error(kind, message, code=code)
        merged = _merge({REQUEST_ID_HEADER[dialect]: "req_fake_error"}, headers)
        return Reply.json(body, status, merged)

    @staticmethod
    def hang() -> Reply:
        """Never answer (for timeouts); ends when the client leaves or the fake closes."""
        return Reply(kind="hang")

    @staticmethod
    def drop() -> Reply:
        """Close the connection without sending a response (a connection error)."""
        return Reply(kind="drop")


@dataclass(frozen=True)
class Recorded:
    """One request as the fake received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: CIMultiDictProxy[str]
    body: bytes
    json: Any  # parsed body, None if empty or not JSON


def _unscripted(method: str, path: str) -> Reply:
    # Anthropic shape, but `error.message`/`error.type` also read fine as an OpenAI error.
    return Reply.json(anthropic_error("api_error", f"fake upstream: nothing scripted for {method} {path}"), 500)


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
        return None


class FakeUpstream:
    """Scripted per-path replies, a request log and disconnect counters; see the module docstring."""

    def __init__(self, check: Callable[[Recorded], Reply | None] | None = None) -> None:
        # `check` answers before the script, like a real API's validation: a Reply refuses the request
        # (gateway.testing.models has the real APIs' 400s for a few models), None lets the script answer.
        self.check = check
        self.requests: list[Recorded] = []
        self.closed_streams = 0  # SSE replies cut short because the client went away
        self.disconnects = 0  # any reply (SSE, hang, delayed JSON) the client abandoned
        self._queues: defaultdict[str, deque[Reply]] = defaultdict(deque)
        self._defaults: dict[str, Reply] = {}
        self._stopping = asyncio.Event()
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    # --- scripting and inspection ---

    def script(self, path: str, *replies: Reply) -> None:
        """Queue replies for a path (query string ignored); they are used once each, in order."""
        self._queues[path].extend(replies)

    def default(self, path: str, reply: Reply) -> None:
        """The reply for a path once its queue is empty (otherwise an unscripted path gets a 500)."""
        self._defaults[path] = reply

    def pending(self, path: str) -> int:
        """How many scripted replies for the path are still unused."""
        return len(self._queues[path])

    def requests_to(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("FakeUpstream not started")
        return self._url

    # `timeout` is part of the fakes' API on purpose: a forgotten event should fail the test, not hang it.
    async def wait_requests(self, n: int, path: str | None = None, timeout: float = 5.0) -> None:
        """Wait until at least n requests (to `path`, if given) have been recorded."""
        await self._wait_for(lambda: len(self.requests if path is None else self.requests_to(path)) >= n, timeout)

    async def wait_closed_streams(self, n: int, timeout: float = 5.0) -> None:
        await self._wait_for(lambda: self.closed_streams >= n, timeout)

    async def wait_disconnects(self, n: int, timeout: float = 5.0) -> None:
        await self._wait_for(lambda: self.disconnects >= n, timeout)

    async def _wait_for(self, predicate: Callable[[], bool], timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                await self._changed.wait()

    def _bump(self) -> None:
        """Wake every waiter; a fresh Event each time avoids clear() races between waiters."""
        self._changed.set()
        self._changed = asyncio.Event()

    # --- lifecycle ---

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # handler_cancellation: a client disconnect cancels the handler, which is how we notice it.
        # A short shutdown grace: replies still streaming when the test ends are simply cut.
        runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.2, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self._url = f"http://127.0.0.1:{runner.addresses[0][1]}"

    async def close(self) -> None:
        if self._runner is None:
            return
        self._stopping.set()  # releases stalled handlers so shutdown does not wait on them
        await self._runner.cleanup()
        self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # --- serving ---

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = CIMultiDictProxy(CIMultiDict(request.headers))
        recorded = Recorded(request.method, request.path, dict(request.query), headers, body, _parse_json(body))
        self.requests.append(recorded)
        self._bump()
        refusal = self.check(recorded) if self.check is not None else None
        reply = refusal or self._take(request.method, request.path)
        cut = _Cut()
        try:
            return await self._serve(request, reply, cut)
        except (ConnectionResetError, asyncio.CancelledError):
            # Our own close (close_after, drop, shutdown) also ends in a cancellation: not the client's doing.
            if not cut.by_us and not self._stopping.is_set():
                self.disconnects += 1
                self.closed_streams += reply.kind == "sse"
                self._bump()
            raise

    def _take(self, method: str, path: str) -> Reply:
        queue = self._queues[path]
        if queue:
            return queue.popleft()
        return self._defaults.get(path) or _unscripted(method, path)

    async def _serve(self, request: web.Request, reply: Reply, cut: _Cut) -> web.StreamResponse:
        if reply.kind == "drop":
            return await _close_connection(request, cut)
        if reply.kind == "hang":
            return await self._stall(request, cut)
        if reply.kind == "sse":
            return await self._stream(request, reply, cut)
        await asyncio.sleep(reply.delay)
        return web.Response(status=reply.status, headers=reply.headers, body=reply.body)

    async def _stream(self, request: web.Request, reply: Reply, cut: _Cut) -> web.StreamResponse:
        response = web.StreamResponse(status=reply.status, headers=reply.headers)
        await response.prepare(request)
        for sent, frame in enumerate(reply.frames):
            if sent == reply.close_after:
                return await _close_connection(request, cut)
            if sent == reply.hang_after:
                return await self._stall(request, cut)
            if sent and reply.delay:
                await asyncio.sleep(reply.delay)
            await response.write(frame)  # each write goes straight to the transport: one flush per frame
        # Counts equal to len(frames) still mean "after the last frame", before the terminating chunk.
        if reply.close_after is not None and reply.close_after >= len(reply.frames):
            return await _close_connection(request, cut)
        if reply.hang_after is not None and reply.hang_after >= len(reply.frames):
            return await self._stall(request, cut)
        await response.write_eof()
        return response

    async def _stall(self, request: web.Request, cut: _Cut) -> web.StreamResponse:
        """Wait until the client leaves (handler cancelled) or the fake shuts down."""
        await self._stopping.wait()
        return await _close_connection(request, cut)


@dataclass
class _Cut:
    """Set when the fake itself closes the connection, so the resulting cancellation is not counted."""

    by_us: bool = False


async def _close_connection(request: web.Request, cut: _Cut) -> web.StreamResponse:
    """Close the TCP connection mid-response; the handler then ends via handler cancellation."""
    cut.by_us = True
    transport = request.transport
    if transport is None:
        raise asyncio.CancelledError
    transport.close()  # close, not abort: frames already written still reach the client first
    await asyncio.Future()  # connection_lost cancels us
    raise AssertionError("unreachable")
