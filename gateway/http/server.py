"""How the app is served, by `gateway serve` and by the tests alike: listeners with a connection cap, and an
optional separate admin listener.

aiohttp bounds how long a connection may take to send a request head through its keep-alive timer (see
`handler_args` in `gateway.app`); it has no bound on the number of connections, so each listener counts them
and answers a connection beyond `client.max_connections` with a 503 and closes it, before it can hold a file
descriptor for long. Both listeners share one count: the limit is the process's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from ..admin import is_admin_path
from ..errors import NotFound
from ..keys import ADMIN_CONNECTIONS, SETTINGS
from ..logformat import AccessLogger, access_logger
from ..startup import bind_error
from .middlewares import Handler

EVERYWHERE = frozenset({"/health", "/ready"})
# Descriptors kept back from the connection cap: one upstream connection per client call in flight, plus files.
RESERVED_FDS = 256
DEFAULT_MAX_CONNECTIONS = 10_000
REFUSED_LINGER_S = 2.0
_BUSY_BODY = (
    b'{"type":"error","error":{"type":"overloaded_error","message":"the gateway has too many open connections"}}'
)
BUSY_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n"
    b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(_BUSY_BODY), _BUSY_BODY)
)


def connection_limit(configured: int | None) -> int:
    """The configured cap, or one the process's descriptor limit can hold (each call may need two)."""
    if configured is not None:
        return configured
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        with contextlib.suppress(ValueError, OSError):  # raise our soft limit as far as we are allowed
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    if soft == resource.RLIM_INFINITY:
        return DEFAULT_MAX_CONNECTIONS
    return max(64, min(DEFAULT_MAX_CONNECTIONS, (soft - RESERVED_FDS) // 2))


class ProtocolLog(logging.LoggerAdapter[logging.Logger]):
    """aiohttp's protocol logger (`handler_args["logger"]`): a request too malformed to reach a route is the
    client's fault, worth one warning line, not an ERROR with a traceback any client could fill the log with."""

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        exc = exc_info if isinstance(exc_info, BaseException) else sys.exc_info()[1]
        if isinstance(exc, HttpProcessingError):
            self.logger.warning("%s: %s", str(msg) % args, exc.message or type(exc).__name__)
        else:
            self.logger.exception(msg, *args, exc_info=exc_info, **kwargs)


def protocol_log() -> ProtocolLog:
    return ProtocolLog(logging.getLogger("aiohttp.server"), {})


@dataclass
class ConnectionGauge:
    """Open connections of the process, against the cap."""

    limit: int
    open: int = 0
    refused: int = 0


class _Counted(asyncio.Protocol):
    """aiohttp's protocol for one connection, counted while it is open (a thin delegate)."""

    __slots__ = ("_admin", "_gauge", "_inner")

    def __init__(self, inner: RequestHandler, gauge: ConnectionGauge, admin: set[object] | None) -> None:
        self._inner, self._gauge, self._admin = inner, gauge, admin
        gauge.open += 1
        if admin is not None:
            admin.add(inner)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> None:
        self._inner.eof_received()  # aiohttp's returns None: the transport closes itself

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._gauge.open -= 1
        if self._admin is not None:
            self._admin.discard(self._inner)
        self._inner.connection_lost(exc)


class _Refused(asyncio.Protocol):
    """A connection over the cap: a 503 (both SDKs retry it), then close once the client has sent its request."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.write(BUSY_RESPONSE)
        transport.write_eof()
        # Reading the request before closing keeps the kernel from answering it with a reset; not for long.
        self._timer = asyncio.get_running_loop().call_later(REFUSED_LINGER_S, transport.close)

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> bool:
        self._transport.close()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._timer.cancel()


class _Site(web.BaseSite):
    """A TCP listener whose connections are counted against the process's cap."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        gauge: ConnectionGauge,
        admin: set[object] | None,
        sock: socket.socket | None = None,
    ):
        super().__init__(runner, backlog=1024)
        self._host, self._port, self._gauge, self._admin = host, port, gauge, admin
        self._sock = sock

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def port(self) -> int:
        sockets = getattr(self._server, "sockets", None)  # asyncio.Server's, once listening
        return int(sockets[0].getsockname()[1]) if sockets else self._port

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        gauge, admin = self._gauge, self._admin

        def protocol() -> asyncio.BaseProtocol:
            if gauge.open >= gauge.limit:
                gauge.refused += 1
                return _Refused()
            return _Counted(server(), gauge, admin)

        loop = asyncio.get_running_loop()
        if self._sock is not None:  # a listening socket the supervisor opened (gateway serve --workers)
            self._server = await loop.create_server(protocol, sock=self._sock, backlog=self._backlog)
            return
        self._server = await loop.create_server(
            protocol, self._host, self._port, backlog=self._backlog, reuse_address=True
        )


async def _start(site: _Site, host: str, port: int, flag: str) -> None:
    """Open a listener; a port in use, a bad host or a refused port is a StartupError saying what to change."""
    try:
        await site.start()
    except OSError as exc:
        raise bind_error(exc, host, port, flag) from None


@web.middleware
async def _listener_split(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Admin routes only on the admin listener, the rest only on the main one (both: /health, /ready)."""
    on_admin = request.protocol in request.app[ADMIN_CONNECTIONS]
    if is_admin_path(request.app, request.path) != on_admin and request.path not in EVERYWHERE:
        raise NotFound(f"route not found: {request.method} {request.path}")
    return await handler(request)


@dataclass
class Listening:
    """A served app: where it listens and how to stop it."""

    runner: web.AppRunner
    url: str
    admin_url: str | None
    gauge: ConnectionGauge
    sites: list[web.BaseSite] = field(default_factory=list)

    async def close(self) -> None:
        await self.runner.cleanup()


async def listen(
    app: web.Application,
    host: str,
    port: int,
    *,
    admin_host: str | None = None,
    admin_port: int | None = None,
    shutdown_timeout: float = 60.0,
    access_log: bool = False,
    sockets: Sequence[socket.socket] = (),
) -> Listening:
    """Start the app and its listeners (port 0: any free port); raises StartupError (a port in use, a bad host,
    an app dir that cannot be used or is locked by another gateway). `access_log`: a line per request on the
    `gateway.access` logger (`gateway serve` turns it on). With an admin port, the admin routes (`/api/...`, and
    the paths plugins add with `add_admin_path`, like the dashboard's `/ui`) answer only there, and inference only
    on the main listener.
    `sockets`: listening sockets to serve on instead of opening them (the main one, then the admin one), a worker's
    of `gateway serve --workers` (see `gateway.supervisor`)."""
    if admin_port is not None:  # before setup: then the app (its middlewares too) is frozen
        app[ADMIN_CONNECTIONS] = set()
        app.middlewares.append(_listener_split)
    logger = access_logger() if access_log else None
    runner = web.AppRunner(
        app,
        handler_cancellation=True,
        access_log=logger,
        access_log_class=AccessLogger,
        shutdown_timeout=shutdown_timeout,
    )
    await runner.setup()
    gauge = ConnectionGauge(limit=connection_limit(app[SETTINGS].client.max_connections))
    try:
        main = _Site(runner, host, port, gauge, None, sockets[0] if sockets else None)
        await _start(main, host, port, "--port")
        sites: list[web.BaseSite] = [main]
        admin_url = None
        if admin_port is not None:
            admin_sock = sockets[1] if len(sockets) > 1 else None
            admin = _Site(runner, admin_host or host, admin_port, gauge, app[ADMIN_CONNECTIONS], admin_sock)
            await _start(admin, admin_host or host, admin_port, "--admin-port")
            sites.append(admin)
            admin_url = f"http://{admin_host or host}:{admin.port}"
    except BaseException:
        await runner.cleanup()
        raise
    return Listening(runner=runner, url=f"http://{host}:{main.port}", admin_url=admin_url, gauge=gauge, sites=sites)
