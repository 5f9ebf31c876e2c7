"""A real `redis-server` on 127.0.0.1 and a free port, for the cache's Redis store and the shared counters (started
and stopped per test; stopped and started again on the same port to play an outage)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

from tests.http.async_helpers import free_port

START_TIMEOUT_S = 10.0


class RedisServer:
    def __init__(self, directory: Path, password: str | None = None) -> None:
        self.port = free_port()
        self.directory = directory
        self.password = password
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None, "redis-server is not installed (.ci/run installs it with apt-get)"
        self.process = await asyncio.create_subprocess_exec(
            binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(self.directory), *(("--requirepass", self.password) if self.password else ()),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_S
        while not await self._answers():
            assert self.process.returncode is None, "redis-server exited"
            assert time.monotonic() < deadline, "redis-server did not start"
            await asyncio.sleep(0.05)

    async def _answers(self) -> bool:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            return False
        if self.password:
            writer.write(f"AUTH {self.password}\r\n".encode())
        writer.write(b"PING\r\n")
        await writer.drain()
        line = await reader.readline()
        if self.password and line.startswith(b"+OK"):
            line = await reader.readline()
        writer.close()
        await writer.wait_closed()
        return line.startswith(b"+PONG")

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            async with asyncio.timeout(10):
                await self.process.wait()


@contextlib.asynccontextmanager
async def redis_server(directory: Path, password: str | None = None) -> AsyncIterator[RedisServer]:
    server = RedisServer(directory, password)
    try:
        await server.start()
        yield server
    finally:
        await server.stop()
