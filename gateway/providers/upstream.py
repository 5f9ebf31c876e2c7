"""The app's one HTTP client towards providers: timeouts, connection errors and error bodies made typed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import aiohttp
import msgspec
from msgspec import Struct
from multidict import CIMultiDictProxy

from ..config import NetworkConfig
from ..errors import UpstreamError, UpstreamTimeout
from ..sse import BatchSplitter, SseBatch
from .deadlines import KEEPALIVE_STARTS, StreamDeadlines, keepalive_only

OPENED = SseBatch(raw=b"")  # the upstream accepted the stream; its events follow

ErrorMapper = Callable[[int, CIMultiDictProxy[str], bytes], UpstreamError]  # an error answer as a typed error
T = TypeVar("T")
# The attempt's `ChatCall.upstream_headers`, set by the executor around its provider call. A context variable
# (one per task, never shared between calls) rather than an argument: providers build their own headers, and
# this way none of them has to know about it.
ATTEMPT_HEADERS: ContextVar[tuple[tuple[str, str], ...]] = ContextVar("attempt_headers", default=())


class UpstreamReply(Struct, frozen=True):
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


class UpstreamClient:
    """Thin wrapper over a provider's ClientSession (owned by the app's cleanup context, see connections.py);
    `proxy` (an HTTP proxy's URL) and `proxy_headers` (its Proxy-Authorization) go with every request."""

    def __init__(
        self, session: aiohttp.ClientSession, proxy: str | None = None, proxy_headers: Mapping[str, str] | None = None
    ) -> None:
        self._session = session
        self._proxy = proxy
        self._proxy_headers = dict(proxy_headers) if proxy_headers else None

    def _proxied(self, url: str, headers: Mapping[str, str]) -> dict[str, Any]:
        """The request's headers and proxy options. Through a CONNECT tunnel (https) the proxy's credentials go
        in the CONNECT (`proxy_headers`); a plain-http request carries them itself, as aiohttp sends no
        proxy_headers then. The attempt's own headers (ATTEMPT_HEADERS) go under the provider's."""
        if added := ATTEMPT_HEADERS.get():
            headers = {**dict(added), **headers}
        if self._proxy is None:
            return {"headers": headers}
        if self._proxy_headers and url.startswith("http:"):
            headers = {**headers, **self._proxy_headers}
        return {"headers": headers, "proxy": self._proxy, "proxy_headers": self._proxy_headers}

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], network: NetworkConfig) -> UpstreamReply:
        """POST and read the whole answer within `default_request_timeout_in_seconds`."""
        return await self._send("POST", url, body, headers, network)

    async def get(self, url: str, headers: Mapping[str, str], network: NetworkConfig) -> UpstreamReply:
        """GET and read the whole answer within `default_request_timeout_in_seconds` (e.g. a model list)."""
        return await self._send("GET", url, None, headers, network)

    async def fetch(
        self,
        url: str,
        headers: Mapping[str, str],
        network: NetworkConfig,
        *,
        errors: ErrorMapper,
        decode: Callable[[bytes], T],
        what: str,
    ) -> T:
        """GET, raise `errors(...)` for an error status, and decode the answer (an undecodable one is an
        UpstreamError naming `what`): `call` for a GET."""
        return _decoded(await self.get(url, headers, network), errors, decode, what)

    async def _send(
        self, method: str, url: str, body: bytes | None, headers: Mapping[str, str], network: NetworkConfig
    ) -> UpstreamReply:
        timeout = network.default_request_timeout_in_seconds
        client_timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=network.connect_timeout_in_seconds)
        try:
            sent = self._session.request(method, url, data=body, timeout=client_timeout, **self._proxied(url, headers))
            async with sent as resp:
                return UpstreamReply(status=resp.status, headers=resp.headers, body=await resp.read())
        except TimeoutError:
            raise UpstreamTimeout(f"upstream did not answer within {timeout:g}s", retryable=True) from None
        except aiohttp.ClientError as exc:
            raise UpstreamError(f"upstream connection failed: {type(exc).__name__}", retryable=True) from None

    async def call(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        network: NetworkConfig,
        *,
        errors: ErrorMapper,
        decode: Callable[[bytes], T],
        what: str,
    ) -> tuple[T, UpstreamReply]:
        """POST, raise `errors(...)` for an error status, and decode the answer (an undecodable one is a 502
        naming `what`): the skeleton of every provider's non-streaming call."""
        reply = await self.post(url, body, headers, network)
        return _decoded(reply, errors, decode, what), reply

    @asynccontextmanager
    async def stream(
        self, url: str, body: bytes, headers: Mapping[str, str], network: NetworkConfig
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """POST and hand over the open response; the upstream must answer within `stream_idle_timeout_in_seconds`.

        Read the body with `reads`, which applies the stream's deadlines (`sse_batches` does all of this for an
        event stream). The connection is closed (not returned to the pool) unless the body was read to the end,
        so an abandoned stream also stops the upstream's generation.
        """
        deadlines = _deadlines(network, None)
        try:
            resp = await self._open(url, body, headers, network, deadlines)
        finally:
            deadlines.close()
        try:
            yield resp
        finally:
            _let_go(resp)

    async def sse_batches(
        self, url: str, body: bytes, headers: Mapping[str, str], network: NetworkConfig, errors: ErrorMapper
    ) -> AsyncGenerator[SseBatch, None]:
        """POST for an event stream and yield it one socket read at a time.

        An error status raises `errors(status, headers, body)` before anything is yielded; then an empty batch
        (OPENED) comes at once, so the client's response can start while the upstream writes its first events.
        No answer, or no content (keep-alives do not count), for `stream_idle_timeout_in_seconds`, or a stream
        longer than `stream_max_duration_in_seconds`, raises UpstreamTimeout; a broken connection UpstreamError.
        One watchdog timer serves the whole stream. Close it (`aclosing`).
        """
        deadlines = _deadlines(network, None)
        try:
            resp = await self._open(url, body, headers, network, deadlines)
            try:
                if resp.status >= 400:
                    raise errors(resp.status, resp.headers, await read_error_body(resp))
                yield OPENED
                # The reading loop, inlined here: a generator of its own would cost every chunk one more hop.
                splitter = BatchSplitter()
                task, fresh = deadlines.task, True
                with _typed_failures(deadlines):
                    while True:
                        if fresh:
                            deadlines.content()
                        deadlines.waiting = task
                        data = await resp.content.readany()
                        deadlines.waiting = None
                        if not data:
                            break
                        if (batch := splitter.feed(data)) is not None:
                            raw = batch.raw  # content (not keep-alives) feeds the watchdog
                            fresh = not raw.startswith(KEEPALIVE_STARTS) or not keepalive_only(raw)
                            yield batch
                        else:
                            fresh = False
                    if (last := splitter.end()) is not None:
                        yield last
            finally:
                _let_go(resp)
        finally:
            deadlines.close()

    async def reads(self, resp: aiohttp.ClientResponse, network: NetworkConfig) -> AsyncGenerator[bytes, None]:
        """A non-SSE stream's body one socket read at a time (every byte is content), under the same deadlines."""
        deadlines = _deadlines(network, None)
        task = deadlines.task
        try:
            with _typed_failures(deadlines):
                while True:
                    deadlines.content()
                    deadlines.waiting = task
                    data = await resp.content.readany()
                    deadlines.waiting = None
                    if not data:
                        return
                    yield data
        finally:
            deadlines.close()

    async def _open(
        self, url: str, body: bytes, headers: Mapping[str, str], network: NetworkConfig, deadlines: StreamDeadlines
    ) -> aiohttp.ClientResponse:
        """POST and wait for the answer's head, under the watchdog (no timer of its own)."""
        client_timeout = aiohttp.ClientTimeout(total=None, sock_connect=network.connect_timeout_in_seconds)
        deadlines.waiting = deadlines.task
        try:
            return await self._session.post(url, data=body, timeout=client_timeout, **self._proxied(url, headers))
        except asyncio.CancelledError:
            if deadlines.expired():
                idle = network.stream_idle_timeout_in_seconds
                raise UpstreamTimeout(f"upstream sent nothing for {idle:g}s", retryable=True) from None
            raise
        except aiohttp.ClientError as exc:
            raise UpstreamError(f"upstream connection failed: {type(exc).__name__}", retryable=True) from None
        finally:
            deadlines.waiting = None


def _decoded(reply: UpstreamReply, errors: ErrorMapper, decode: Callable[[bytes], T], what: str) -> T:
    if reply.status >= 400:
        raise errors(reply.status, reply.headers, reply.body)
    try:
        return decode(reply.body)
    except (msgspec.DecodeError, RecursionError) as exc:  # a ValidationError is a DecodeError
        raise UpstreamError(f"upstream sent an invalid {what}: {exc}") from None


@contextlib.contextmanager
def _typed_failures(deadlines: StreamDeadlines) -> Iterator[None]:
    """A stream's failures made typed: the watchdog's cancellation a timeout, a broken connection UpstreamError."""
    try:
        yield
    except asyncio.CancelledError:
        if deadlines.expired():
            raise deadlines.error() from None
        raise
    except aiohttp.ClientError as exc:
        raise UpstreamError(f"upstream stream broke: {type(exc).__name__}") from None


def _let_go(resp: aiohttp.ClientResponse) -> None:
    """Back to the pool if the body was read to the end; else closed, which stops the upstream's generation."""
    if resp.content.at_eof():
        resp.release()
    else:
        resp.close()


def _deadlines(network: NetworkConfig, started: float | None) -> StreamDeadlines:
    return StreamDeadlines(network.stream_idle_timeout_in_seconds, network.stream_max_duration_in_seconds, started)


async def read_error_body(resp: aiohttp.ClientResponse) -> bytes:
    try:
        return await resp.read()
    except (aiohttp.ClientError, TimeoutError):
        return b""


def retry_after_seconds(headers: CIMultiDictProxy[str]) -> float | None:
    """Seconds from retry-after-ms or retry-after (the seconds form; an HTTP date counts as absent)."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return max(float(value) * scale, 0.0)
            except ValueError:
                continue
    return None
