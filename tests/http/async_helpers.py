"""Shared bits for the async-job tests (tests/http/test_async_*.py): raw HTTP with aiohttp, bounded polling,
request bodies, an in-process gateway that a test can stop mid-way, and a read-only look into the job store."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDictProxy

from gateway.app import create_app
from gateway.config import parse_settings
from gateway.http.server import Listening, listen
from gateway.testing import FakeUpstream, Recorded, Reply, openai_completion
from tests.conftest import CLIENT_KEY, OPENAI_KEY, Gateway

SUBMIT = {"x-bf-async": "true"}
POLL = "x-bf-async-id"
STATUS = "x-bf-async-status"
TTL = "x-bf-async-job-result-ttl"
TERMINAL = ("completed", "failed")
POLL_TIMEOUT_S = 5.0
POLL_EVERY_S = 0.02
DB_FILE = "gateway.db"
# Gateway routes
MESSAGES = "/anthropic/v1/messages"
CHAT = "/v1/chat/completions"
NATIVE_MESSAGES = "/v1/async/messages"
NATIVE_CHAT = "/v1/async/chat/completions"
# Fake upstream paths
UP_MESSAGES = "/v1/messages"
UP_CHAT = "/v1/chat/completions"
_NO_KEY = object()


def anthropic_body(model: str = "claude-x", text: str = "hi", **extra: Any) -> dict[str, Any]:
    return {"model": model, "max_tokens": 32, "messages": [{"role": "user", "content": text}], **extra}


def openai_body(model: str = "openai/gpt-x", text: str = "hi", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


@dataclass
class Answer:
    """A gateway answer read in full."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def job_status(self) -> str | None:
        return self.headers.get(STATUS)

    def __repr__(self) -> str:
        return f"Answer({self.status}, {dict(self.headers)!r}, {self.body[:600]!r})"


class Http:
    """One aiohttp session against a gateway; every request carries `key` as x-api-key (None: no key)."""

    def __init__(self, base_url: str, key: str | None = CLIENT_KEY) -> None:
        self.base_url = base_url
        self.key = key
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Http:
        self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._session is not None
        await self._session.close()

    async def request(
        self,
        method: str,
        path: str,
        body: bytes | Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        key: Any = _NO_KEY,
    ) -> Answer:
        assert self._session is not None
        key = self.key if key is _NO_KEY else key
        sent = {"Content-Type": "application/json", "anthropic-version": "2023-06-01"}
        if key is not None:
            sent["x-api-key"] = key
        sent.update(headers or {})
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        async with self._session.request(method, self.base_url + path, data=data, headers=sent) as resp:
            return Answer(resp.status, resp.headers, await resp.read())

    async def post(
        self, path: str, body: bytes | Mapping[str, Any], headers: Mapping[str, str] | None = None, key: Any = _NO_KEY
    ) -> Answer:
        return await self.request("POST", path, body, headers, key)

    async def get(self, path: str, key: Any = _NO_KEY) -> Answer:
        return await self.request("GET", path, None, None, key)

    async def submit(
        self, path: str, body: Mapping[str, Any], headers: Mapping[str, str] | None = None, key: Any = _NO_KEY
    ) -> Answer:
        """`x-bf-async: true` on a dialect route."""
        return await self.post(path, body, {**SUBMIT, **(headers or {})}, key)

    async def poll(self, path: str, job_id: str, body: bytes | Mapping[str, Any] = b"{}", key: Any = _NO_KEY) -> Answer:
        """`x-bf-async-id` on a dialect route; the body is deliberately not the submitted one."""
        return await self.post(path, body, {POLL: job_id}, key)

    async def wait_done(self, path: str, job_id: str, key: Any = _NO_KEY, timeout: float = POLL_TIMEOUT_S) -> Answer:
        """Poll a dialect route until the job is completed or failed."""
        return await poll_until(lambda: self.poll(path, job_id, key=key), _terminal, timeout)

    async def native_wait(self, path: str, job_id: str, timeout: float = POLL_TIMEOUT_S) -> Answer:
        """GET a native job route until it stops answering 202."""
        return await poll_until(lambda: self.get(f"{path}/{job_id}"), lambda a: a.status != 202, timeout)


def _terminal(answer: Answer) -> bool:
    return answer.job_status in TERMINAL or answer.status == 404


async def poll_until(
    fetch: Callable[[], Awaitable[Any]],
    done: Callable[[Any], bool],
    timeout: float = POLL_TIMEOUT_S,
    every: float = POLL_EVERY_S,
) -> Any:
    """Call `fetch` every `every` seconds until `done(answer)`; fails with the last answer after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        answer = await fetch()
        if done(answer):
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"not done after {timeout}s; last answer: {answer!r}")
        await asyncio.sleep(every)


def without(body: Mapping[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in names}


def iso_seconds(value: str) -> float:
    """A native job timestamp (ISO 8601, Z) as a POSIX timestamp."""
    assert value.endswith("Z"), value
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def assert_anthropic_error(answer: Answer, status: int, kind: str) -> dict[str, Any]:
    assert answer.status == status, answer
    body = answer.json()
    assert body["type"] == "error", body
    assert body["error"]["type"] == kind, body
    assert body["error"]["message"], body
    return body  # type: ignore[no-any-return]


def assert_openai_error(answer: Answer, status: int, kind: str) -> dict[str, Any]:
    assert answer.status == status, answer
    body = answer.json()
    assert set(body) == {"error"}, body
    assert body["error"]["type"] == kind, body
    assert body["error"]["message"], body
    return body  # type: ignore[no-any-return]


# --- the job store, read from outside the gateway -------------------------------------------------------


def job_rows(app_dir: Path) -> dict[str, tuple[str, int]]:
    """{job id: (status, attempts)} as committed in <app_dir>/gateway.db, read through a read-only connection."""
    connection = sqlite3.connect(f"file:{app_dir / DB_FILE}?mode=ro", uri=True, timeout=5)
    try:
        return {row[0]: (row[1], row[2]) for row in connection.execute("SELECT id, status, attempts FROM jobs")}
    finally:
        connection.close()


def edit_jobs(app_dir: Path, sql: str, *params: object) -> int:
    """Change the store while no gateway has it open (to stage what several crashes would leave behind)."""
    connection = sqlite3.connect(app_dir / DB_FILE, timeout=5)
    try:
        with connection:
            return connection.execute(sql, params).rowcount
    finally:
        connection.close()


# --- an in-process gateway the test stops itself -----------------------------------------------------------


class StoppableGateway:
    """Like the `make_gateway` fixture, but `stop()` is a graceful shutdown the test calls mid-way."""

    def __init__(self, config: dict[str, Any], app_dir: Path) -> None:
        self._app = create_app(parse_settings(config), app_dir=app_dir)
        self._server: Listening | None = None
        self._stopped = False

    async def start(self) -> Gateway:
        self._server = await listen(self._app, "127.0.0.1", 0)
        return Gateway(url=self._server.url, app=self._app)

    async def stop(self) -> None:
        if not self._stopped and self._server is not None:
            self._stopped = True
            await self._server.close()  # stop listening, then the app's cleanup: the job service's stop()


# --- a gateway subprocess and an upstream that counts calls per job ------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 15.0


def answer_for(marker: str) -> dict[str, Any]:
    """What CountingUpstream answers the job whose prompt is `marker`."""
    return openai_completion(f"answer to {marker}", id=f"chatcmpl-{marker}")


def marker_of(request: Recorded) -> str:
    return str(request.json["messages"][-1]["content"])


class CountingUpstream(FakeUpstream):
    """An OpenAI upstream that answers each job (its prompt is a marker like `job-7`) with its own completion
    after `delay` seconds; count calls per job with `marker_of` over `requests`."""

    delay = 1.0

    async def _serve(self, request: web.Request, reply: Reply, cut: Any) -> web.StreamResponse:
        marker = json.loads(await request.read())["messages"][-1]["content"]
        return await super()._serve(request, Reply.json(answer_for(marker), delay=self.delay), cut)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_openai_config(path: Path, upstream_url: str, **client: Any) -> Path:
    """A config with one OpenAI provider (no retries) at `upstream_url`."""
    network = {"base_url": upstream_url, "max_retries": 0}
    provider = {"keys": [{"name": "o", "value": OPENAI_KEY}], "network_config": network}
    path.write_text(json.dumps({"providers": {"openai": provider}, "client": client}))
    return path


def spawn_gateway(config: Path, port: int, app_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    """`python -m gateway serve` on `port` with `app_dir`, its output appended to `log`. Kill it in a finally."""
    env = {k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY")}
    args = ["serve", "--config", str(config), "--port", str(port), "--app-dir", str(app_dir)]
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "gateway", *args],
            cwd=ROOT,
            env=env | {"GATEWAY_LOG_LEVEL": "INFO"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def wait_healthy(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"gateway exited with {proc.returncode}:\n{read_log(log)}")
            try:
                async with session.get(url + "/health") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError(f"gateway not healthy after {START_TIMEOUT_S}s:\n{read_log(log)}")


def read_log(log: Path) -> str:
    return log.read_text(errors="replace")


def reap(procs: list[subprocess.Popen[bytes]]) -> None:
    """Kill (SIGKILL) every process still running and wait for all of them."""
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
