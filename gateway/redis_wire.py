"""One multiplexed Redis connection for the calls on every request's path (the admission script): commands are
written as they come and replies matched to them in order (RESP answers in order), parsed by hiredis.

Why not redis-py for these: its asyncio client takes a pooled connection, writes, reads and gives it back for
each command, which cost 60-100 us of CPU a call here, more than Redis itself and the loopback round trip
together. One pipelined connection costs a few microseconds a command, and at high concurrency many commands
share one write and one read. Everything else (pub/sub, streams, admin) keeps redis-py's client.

Failure handling is the caller's contract (gateway/shared_redis.py): every call is bounded by its deadline. A call
that times out closes the connection, failing the calls queued behind it at once (a Redis that stopped answering
will not answer them either); the next call opens a new connection.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit


class ReplyError(Exception):
    """Redis answered with an error (a script's bug, NOSCRIPT, WRONGTYPE): not an outage."""


class ConnectionGone(ConnectionError):
    """The connection closed before the reply came."""


def encode(args: tuple[Any, ...]) -> bytes:
    """A command in RESP: an array of bulk strings (numbers as redis-py writes them: repr)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, int | float):
            data = repr(arg).encode()
        else:
            raise TypeError(f"a Redis argument must be bytes, str or a number, not {type(arg).__name__}")
        parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(parts)


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        import hiredis  # the `redis` extra's (imported when a `redis` section is configured, like redis-py)

        self.reply_error = hiredis.ReplyError
        self.reader = hiredis.Reader()
        self.waiting: collections.deque[asyncio.Future[Any]] = collections.deque()
        self.transport: asyncio.Transport | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream's: uvloop's is no asyncio.Transport

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            future = self.waiting.popleft()
            if future.done():  # its caller gave up (deadline): the reply is dropped, the order kept
                continue
            if isinstance(reply, self.reply_error):
                future.set_exception(ReplyError(str(reply)))
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(ConnectionGone("the connection to Redis closed"))

    def send(self, command: bytes) -> asyncio.Future[Any]:
        if self.lost or self.transport is None or self.transport.is_closing():
            raise ConnectionGone("the connection to Redis closed")
        future = asyncio.get_running_loop().create_future()
        self.waiting.append(future)
        self.transport.write(command)
        return future

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class PipelinedConnection:
    """A lazily opened, shared connection to the Redis at `url` (redis://, rediss:// or unix://, with the
    password, user and db it names), every call bounded by `timeout_s`."""

    def __init__(self, url: str, timeout_s: float) -> None:
        self._url = urlsplit(url)
        self._timeout_s = timeout_s
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None

    async def call(self, *args: Any) -> Any:
        """The reply to one command; ReplyError, or OSError/TimeoutError/ConnectionError when Redis is out of
        reach."""
        protocol = self._protocol
        if protocol is None or protocol.lost:
            protocol = await self._connect()
        try:
            async with asyncio.timeout(self._timeout_s):
                return await protocol.send(encode(args))
        except TimeoutError:
            protocol.close()  # the calls behind it would wait for the same silent Redis
            raise

    async def close(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
        if self._protocol is not None:
            self._protocol.close()
            self._protocol = None

    async def _connect(self) -> _Protocol:
        """The connection, opened by one attempt that every caller waiting for it shares: when it fails, they all
        fail together (a silent Redis costs them one deadline, not one each), and the next call tries again."""
        if self._connecting is None:
            attempt = asyncio.ensure_future(self._open_and_hello())
            attempt.add_done_callback(self._attempt_done)
            self._connecting = attempt
        return await asyncio.shield(self._connecting)

    def _attempt_done(self, attempt: asyncio.Future[_Protocol]) -> None:
        self._connecting = None
        if not attempt.cancelled() and attempt.exception() is None:
            self._protocol = attempt.result()

    async def _open_and_hello(self) -> _Protocol:
        async with asyncio.timeout(self._timeout_s):
            protocol = await self._open()
            try:
                await self._hello(protocol)
            except BaseException:
                protocol.close()
                raise
        return protocol

    async def _open(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        url = self._url
        if url.scheme == "unix":
            _, protocol = await loop.create_unix_connection(_Protocol, url.path)
        else:
            tls = ssl.create_default_context() if url.scheme == "rediss" else None
            host, port = url.hostname or "localhost", url.port or 6379
            _, protocol = await loop.create_connection(_Protocol, host, port, ssl=tls)
        return protocol

    async def _hello(self, protocol: _Protocol) -> None:
        """AUTH and SELECT, as the URL says (pipelined; the first error is raised)."""
        url = self._url
        commands: list[tuple[Any, ...]] = []
        if url.password:
            user = (unquote(url.username),) if url.username else ()
            commands.append(("AUTH", *user, unquote(url.password)))
        db = url.path.strip("/") if url.scheme != "unix" else dict(parse_qsl(url.query)).get("db", "")
        if db and db != "0":
            commands.append(("SELECT", db))
        try:
            for future in [protocol.send(encode(command)) for command in commands]:
                await future
        except ReplyError as error:  # a wrong password is an outage to the caller, not a bug of ours
            raise ConnectionRefusedError(f"Redis refused the connection ({str(error).split()[0]})") from None
