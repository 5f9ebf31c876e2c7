"""The app's one HTTP client towards providers: timeouts, connection errors and error bodies made typed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager

import aiohttp
from msgspec import Struct
from multidict import CIMultiDictProxy

from ..config import NetworkConfig
from ..errors import UpstreamError, UpstreamTimeout
from ..sse import BatchSplitter, SseBatch
from .deadlines import StreamDeadlines, keepalive_only

OPENED = SseBatch(raw=b"")  # the upstream accepted the stream; its events follow

ErrorMapper = Callable[[int, CIMultiDictProxy[str], bytes], UpstreamError]  # an error answer as a typed error


class UpstreamReply(Struct, frozen=True):
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


class UpstreamClient:
    """Thin wrapper over the app's ClientSession (one per app, owned by the app's cleanup context)."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], network: NetworkConfig) -> UpstreamReply:
        """POST and read the whole answer within `default_request_timeout_in_seconds`."""
        timeout = network.default_request_timeout_in_seconds
        client_timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=network.connect_timeout_in_seconds)
        try:
            async with self._session.post(url, data=body, headers=headers, timeout=client_timeout) as resp:
                return UpstreamReply(status=resp.status, headers=resp.headers, body=await resp.read())
        except TimeoutError:
            raise UpstreamTimeout(f"upstream did not answer within {timeout:g}s", retryable=True) from None
        except aiohttp.ClientError as exc:
            raise UpstreamError(f"upstream connection failed: {type(exc).__name__}", retryable=True) from None

    @asynccontextmanager
    async def stream(
        self, url: str, body: bytes, headers: Mapping[str, str], network: NetworkConfig
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """POST and hand over the open response; the upstream must answer within `stream_idle_timeout_in_seconds`.

        Reading the body goes through `sse_batches` or `reads`, which apply the stream's deadlines. The connection
        is closed (not returned to the pool) unless the body was read to the end, so an abandoned stream also
        stops the upstream's generation.
        """
        idle_timeout = network.stream_idle_timeout_in_seconds
        client_timeout = aiohttp.ClientTimeout(total=None, sock_connect=network.connect_timeout_in_seconds)
        try:
            async with asyncio.timeout(idle_timeout):
                resp = await self._session.post(url, data=body, headers=headers, timeout=client_timeout)
        except TimeoutError:
            raise UpstreamTimeout(f"upstream sent nothing for {idle_timeout:g}s", retryable=True) from None
        except aiohttp.ClientError as exc:
            raise UpstreamError(f"upstream connection failed: {type(exc).__name__}", retryable=True) from None
        try:
            yield resp
        finally:
            if resp.content.at_eof():
                resp.release()
            else:
                resp.close()

    async def sse_batches(
        self, url: str, body: bytes, headers: Mapping[str, str], network: NetworkConfig, errors: ErrorMapper
    ) -> AsyncGenerator[SseBatch, None]:
        """POST for an event stream and yield it one socket read at a time.

        An error status raises `errors(status, headers, body)` before anything is yielded; then an empty batch
        (OPENED) comes at once, so the client's response can start while the upstream writes its first events.
        No content (keep-alives do not count) for `stream_idle_timeout_in_seconds`, or a stream longer than
        `stream_max_duration_in_seconds`, raises UpstreamTimeout; a broken connection UpstreamError. Close it
        (`aclosing`).
        """
        started = asyncio.get_running_loop().time()
        async with self.stream(url, body, headers, network) as resp:
            if resp.status >= 400:
                raise errors(resp.status, resp.headers, await read_error_body(resp))
            yield OPENED
            deadlines = _deadlines(network, started)
            splitter = BatchSplitter()  # iter_batches, inlined: one generator fewer for every chunk to pass
            task, cancelling, fresh = None, 0, True
            try:
                while True:
                    if fresh:
                        deadlines.content()
                    deadlines.waiting = task = asyncio.current_task()
                    cancelling = task.cancelling() if task is not None else 0
                    data = await resp.content.readany()
                    deadlines.waiting = None
                    if not data:
                        break
                    batch = splitter.feed(data)
                    fresh = batch is not None and not keepalive_only(batch.raw)
                    if batch is not None:
                        yield batch
                if (last := splitter.end()) is not None:
                    yield last
            except asyncio.CancelledError:
                if deadlines.expired(task, cancelling):
                    raise deadlines.error() from None
                raise
            except aiohttp.ClientError as exc:
                raise UpstreamError(f"upstream stream broke: {type(exc).__name__}") from None
            finally:
                deadlines.close()

    async def reads(self, resp: aiohttp.ClientResponse, network: NetworkConfig) -> AsyncGenerator[bytes, None]:
        """A non-SSE stream's body one socket read at a time (every byte is content), under the same deadlines."""
        deadlines = _deadlines(network, None)
        task, cancelling = None, 0
        try:
            while True:
                deadlines.content()
                deadlines.waiting = task = asyncio.current_task()
                cancelling = task.cancelling() if task is not None else 0
                data = await resp.content.readany()
                deadlines.waiting = None
                if not data:
                    return
                yield data
        except asyncio.CancelledError:
            if deadlines.expired(task, cancelling):
                raise deadlines.error() from None
            raise
        except aiohttp.ClientError as exc:
            raise UpstreamError(f"upstream stream broke: {type(exc).__name__}") from None
        finally:
            deadlines.close()


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
