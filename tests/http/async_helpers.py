"""Shared bits for the async-job tests (tests/http/test_async_*.py), on the kit's raw client (`gateway.testing.Http`):
job calls (submit, poll, wait until done), bounded polling, a read-only look into the job store, and a gateway
subprocess with an upstream that counts the calls of each job."""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

from gateway.testing import Answer, FakeUpstream, Http, Recorded, Reply, openai_completion
from tests.cli_helpers import cli_env
from tests.conftest import OPENAI_KEY

T = TypeVar("T")

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


class _Own(Enum):
    KEY = "the client's own key"


OWN_KEY = _Own.KEY  # a job call with the key the client was made with
Key = str | None | _Own


def _key(http: Http, key: Key) -> str | None:
    return http.key if key is OWN_KEY else key


def job_status(answer: Answer) -> str | None:
    """The job's status as the answer's x-bf-async-status header says it."""
    return answer.headers.get(STATUS)


async def submit(
    http: Http, path: str, body: Mapping[str, Any], headers: Mapping[str, str] | None = None, key: Key = OWN_KEY
) -> Answer:
    """`x-bf-async: true` on a dialect route."""
    return await http.post(path, body, {**SUBMIT, **(headers or {})}, _key(http, key))


async def poll(
    http: Http, path: str, job_id: str, body: bytes | Mapping[str, Any] = b"{}", key: Key = OWN_KEY
) -> Answer:
    """`x-bf-async-id` on a dialect route; the body is deliberately not the submitted one."""
    return await http.post(path, body, {POLL: job_id}, _key(http, key))


async def wait_done(http: Http, path: str, job_id: str, key: Key = OWN_KEY, timeout: float = POLL_TIMEOUT_S) -> Answer:
    """Poll a dialect route until the job is completed or failed."""
    return await poll_until(lambda: poll(http, path, job_id, key=key), _terminal, timeout)


async def native_wait(http: Http, path: str, job_id: str, timeout: float = POLL_TIMEOUT_S) -> Answer:
    """GET a native job route until it stops answering 202."""
    return await poll_until(lambda: http.get(f"{path}/{job_id}"), lambda a: a.status != 202, timeout)


def _terminal(answer: Answer) -> bool:
    return job_status(answer) in TERMINAL or answer.status == 404


async def poll_until(
    fetch: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    timeout: float = POLL_TIMEOUT_S,
    every: float = POLL_EVERY_S,
) -> T:
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


def spawn_gateway(
    config: Path | str, port: int, app_dir: Path, log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`python -m gateway serve` on `port` with `app_dir`, its output appended to `log`. Kill it in a finally.
    `env`: the process's environment (default: this one without provider keys)."""
    args = ["serve", "--config", str(config), "--port", str(port), "--app-dir", str(app_dir)]
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "gateway", *args],
            cwd=ROOT,
            env=(cli_env() if env is None else env) | {"GATEWAY_LOG_LEVEL": "INFO"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def wait_healthy(proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float = START_TIMEOUT_S) -> None:
    """Until GET /health answers 200; fails with the log if the process exits or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    async with Http(url, key=None) as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"gateway exited with {proc.returncode}:\n{read_log(log)}")
            try:
                if (await http.get("/health")).status == 200:
                    return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError(f"gateway not healthy after {timeout}s:\n{read_log(log)}")


def read_log(log: Path) -> str:
    return log.read_text(errors="replace")


def reap(procs: list[subprocess.Popen[bytes]]) -> None:
    """Kill (SIGKILL) every process still running and wait for all of them."""
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
