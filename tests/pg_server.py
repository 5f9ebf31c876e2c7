"""A real PostgreSQL server on 127.0.0.1 and a free port (Debian's `postgresql` package; .ci/run installs it), one
per test session, with a fresh database per test (`pg_dsn`). Password authentication is on, so the DSN holds a
secret the tests can look for in logs and answers.

PostgreSQL refuses to run as root: as root (CI) the cluster belongs to the `postgres` user the package creates,
in a directory of its own outside pytest's root-only tmp dirs.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

USER = "gateway"
PASSWORD = "pg-password-for-tests-4be1d0"  # a test cluster's: the tests look for it in outputs
START_TIMEOUT_S = 30.0


def free_port() -> int:
    # Not tests.http.async_helpers': it imports tests.conftest, which imports this module.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _binary(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    assert found, f"{name} is not installed (.ci/run installs Debian's postgresql package)"
    return found


def create_database(server: PostgresServer) -> str:
    """A new database on `server`, without an event loop (for sync fixtures); its name."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    _client("createdb", server, name)
    return name


def drop_database(server: PostgresServer, name: str) -> None:
    _client("dropdb", server, "--force", name)


def _client(binary: str, server: PostgresServer, *args: str) -> None:
    command = [_binary(binary), "-h", "127.0.0.1", "-p", str(server.port), "-U", USER, *args]
    subprocess.run(command, check=True, capture_output=True, env={**os.environ, "PGPASSWORD": PASSWORD}, timeout=30)


class PostgresServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="gateway-pg-"))
        self.process: subprocess.Popen[bytes] | None = None
        self._owner: dict[str, Any] = {}
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(self.directory, entry.pw_uid, entry.pw_gid)
            self._owner = {"user": entry.pw_uid, "group": entry.pw_gid}

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        data, password_file = self.directory / "data", self.directory / "pwfile"
        password_file.write_text(PASSWORD)
        if self._owner:
            os.chown(password_file, self._owner["user"], self._owner["group"])
        subprocess.run(
            [_binary("initdb"), "-D", str(data), "-U", USER, "--pwfile", str(password_file), "-A", "scram-sha-256",
             "-E", "UTF8", "--locale", "C", "--no-sync"],
            check=True, capture_output=True, **self._owner,
        )  # fmt: skip
        self.process = subprocess.Popen(
            [_binary("postgres"), "-D", str(data), "-p", str(self.port), "-h", "127.0.0.1", "-k", str(self.directory),
             "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
             "-c", "max_connections=300"],
            stdout=subprocess.DEVNULL, stderr=open(self.directory / "server.log", "wb"), **self._owner,
        )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._answers():
            assert self.process.poll() is None, f"postgres exited: {(self.directory / 'server.log').read_text()}"
            assert time.monotonic() < deadline, "postgres did not start"
            time.sleep(0.1)

    def _answers(self) -> bool:
        ready = subprocess.run(
            [_binary("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER], capture_output=True
        )
        return ready.returncode == 0

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # "fast" shutdown: SIGTERM's "smart" one waits for clients
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
async def pg_dsn(postgres_server: PostgresServer) -> AsyncIterator[str]:
    """The DSN of a database of this test's own, dropped afterwards."""
    import asyncpg

    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_server.dsn())
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield postgres_server.dsn(name)
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()
