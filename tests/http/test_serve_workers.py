"""`gateway serve --workers N`: N processes on one port under a supervisor that replaces a dead one, reloads the
config on SIGHUP without a refused request (and keeps the old config when the new one is bad), and drains on
SIGTERM; more than one worker without a `redis` section is refused."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.testing import FakeUpstream, Reply, openai_completion, upstream_config
from gateway.testing.bodies import openai_body
from tests.cache.redis_server import RedisServer
from tests.cli_helpers import run_cli
from tests.http.async_helpers import CHAT
from tests.http.serve_helpers import SUPERVISING, Served, alive, serving, write_config

MOCK_ONLY: dict[str, Any] = {"providers": {"mock": {}}}
SEEN_TIMEOUT_S = 20.0


@pytest.fixture
async def redis_url(tmp_path: Path) -> AsyncIterator[str]:
    server = RedisServer(tmp_path)
    await server.start()
    try:
        yield server.url
    finally:
        await server.stop()


async def _get(url: str, path: str = "/ready") -> tuple[int, dict[str, Any]]:
    """On a new connection each time: the kernel picks the worker per connection."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        async with session.get(url + path) as response:
            return response.status, await response.json()


async def _ready_pids(url: str, wanted: int, timeout: float = SEEN_TIMEOUT_S) -> set[int]:
    """The pids answering /ready until `wanted` distinct ones were seen (or the time is up)."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(seen) < wanted and time.monotonic() < deadline:
        status, body = await _get(url)
        assert status == 200, body
        seen.add(body["pid"])
    return seen


@pytest.mark.parametrize("count", ["2", "3"])
def test_more_than_one_worker_without_redis_is_refused(tmp_path: Path, count: str) -> None:
    config = write_config(tmp_path / "c.json", MOCK_ONLY)
    result = run_cli("serve", "--config", str(config), "--port", "0", "--app-dir", str(tmp_path), "--workers", count)
    assert result.returncode == 2
    assert result.stderr == (
        f"gateway: --workers {count} needs the config's `redis` section: without shared state each worker would "
        "keep its own budgets, rate limits, async jobs and virtual keys (run one worker, or configure redis)\n"
    )


@pytest.mark.parametrize("count", ["0", "-1", "x"])
def test_a_worker_count_that_is_not_a_count_is_a_usage_error(tmp_path: Path, count: str) -> None:
    result = run_cli("serve", "--config", "c.json", "--workers", count)
    assert result.returncode == 2
    assert f"argument --workers: {count!r} is not a number of workers" in result.stderr


def test_a_supervisor_that_cannot_start_says_why_in_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.json", MOCK_ONLY)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = ("serve", "--config", str(config), "--app-dir", str(tmp_path / "app"), "--workers", "1")
        result = run_cli(*args, "--port", str(port))
    assert (result.returncode, result.stderr) == (
        1,
        f"gateway: port {port} on 127.0.0.1 is in use (another gateway? pass --port)\n",
    )
    bad = write_config(tmp_path / "bad.json", {**MOCK_ONLY, "client": {"max_request_body_size_mb": "x"}})
    result = run_cli("serve", "--config", str(bad), "--port", "0", "--workers", "1")
    assert (result.returncode, result.stderr) == (
        2,
        f"gateway: invalid config {bad}: $.client.max_request_body_size_mb: Expected `int`, got `str`\n",
    )


async def test_two_workers_serve_one_port_and_a_dead_one_is_replaced(tmp_path: Path, redis_url: str) -> None:
    config = write_config(tmp_path / "c.json", {**MOCK_ONLY, "redis": {"url": redis_url}})
    async with serving(config, tmp_path / "app", tmp_path / "log", "--workers", "2", ready=SUPERVISING) as served:
        pids = await _ready_pids(served.url, 2)
        assert len(pids) == 2 and served.process.pid not in pids, pids
        status, body = await _post_chat(served.url, "mock/any")
        assert status == 200, body
        victim = min(pids)
        os.kill(victim, signal.SIGKILL)
        await served.wait_log(f"worker pid {victim} exited with code -9; starting another")
        replaced = await _ready_pids(served.url, 2)
        assert len(replaced) == 2 and victim not in replaced, replaced
        served.signal(signal.SIGTERM)
        assert await served.exit_code(timeout=30) == 0
    assert not any(alive(pid) for pid in pids | replaced)
    assert "Traceback" not in served.log_text()


async def _post_chat(url: str, model: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        async with session.post(url + CHAT, json=openai_body(model=model)) as response:
            return response.status, await response.json()


@dataclass
class Load:
    sent: int = 0
    failures: list[str] = field(default_factory=list)


@contextlib.asynccontextmanager
async def _steady_load(url: str) -> AsyncIterator[Load]:
    """Requests one after the other, each on a new connection, until the block ends."""
    done, result = asyncio.Event(), Load()
    failures = result.failures

    async def load() -> None:
        for _ in range(10_000):  # bounded: far more than a reload needs at this pace
            if done.is_set():
                return
            result.sent += 1
            try:
                status, body = await _post_chat(url, "mock/any")
                if status != 200:
                    failures.append(f"{status}: {body}")
            except aiohttp.ClientError as exc:
                failures.append(repr(exc))

    task = asyncio.create_task(load())
    try:
        yield result
    finally:
        done.set()
        await asyncio.wait_for(task, timeout=30)


async def test_sighup_reloads_without_a_failed_request_and_refuses_a_bad_config(
    fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake_upstream.default("/v1/chat/completions", Reply.json(openai_completion("reloaded")))
    config = write_config(tmp_path / "c.json", MOCK_ONLY)
    async with serving(config, tmp_path / "app", tmp_path / "log", "--workers", "1", ready=SUPERVISING) as served:
        (first,) = await _ready_pids(served.url, 1)
        status, body = await _post_chat(served.url, "openai/gpt-x")
        assert "reloaded" not in str(body)  # no openai provider yet: not the fake upstream's answer
        write_config(config, upstream_config(fake_upstream.url))
        async with _steady_load(served.url) as load:
            served.signal(signal.SIGHUP)
            await served.wait_log("reload done: the old workers drained")
        assert load.failures == []
        assert load.sent >= 20  # requests went on during the whole swap
        status, body = await _post_chat(served.url, "openai/gpt-x")
        assert status == 200 and body["choices"][0]["message"]["content"] == "reloaded", body
        (second,) = await _ready_pids(served.url, 1)
        assert second != first and not alive(first)
        await _refused_reload(served, config, second)


async def _refused_reload(served: Served, config: Path, pid: int) -> None:
    """A bad file on SIGHUP: every error logged, the workers untouched and still on the old config."""
    write_config(config, {"providers": {"openai": {"keys": 5}}, "client": {"max_request_body_size_mb": "x"}})
    served.signal(signal.SIGHUP)
    await served.wait_log("has errors; the workers keep the config they started with")
    log = served.log_text()
    assert f"reload refused: invalid config {config}: $.client.max_request_body_size_mb" in log
    assert f"reload refused: invalid config {config}: $.providers.openai.keys" in log
    assert await _ready_pids(served.url, 2, timeout=1.0) == {pid}
    status, body = await _post_chat(served.url, "openai/gpt-x")
    assert status == 200, body
    served.signal(signal.SIGTERM)
    assert await served.exit_code(timeout=30) == 0


async def test_workers_of_a_killed_supervisor_stop_by_themselves(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.json", MOCK_ONLY)
    async with serving(config, tmp_path / "app", tmp_path / "log", "--workers", "1", ready=SUPERVISING) as served:
        (worker,) = await _ready_pids(served.url, 1)
        served.signal(signal.SIGKILL)  # it cannot forward anything
        deadline = time.monotonic() + SEEN_TIMEOUT_S
        while alive(worker):
            assert time.monotonic() < deadline, "the orphaned worker still runs"
            await asyncio.sleep(0.1)
    assert "draining (pid" in served.log_text()
