"""A gateway told to stop (SIGTERM) drains: it refuses new connections, lets the streams in flight finish, ends
those still open at `--drain-timeout` with their dialect's error event, keeps accepted async jobs, and exits 0."""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from pathlib import Path

import aiohttp

from gateway.testing import (
    FakeUpstream,
    Http,
    Reply,
    anthropic_sse,
    openai_completion,
    openai_sse,
    parse_sse,
    upstream_config,
)
from gateway.testing.bodies import anthropic_body, openai_body
from tests.http.async_helpers import CHAT, POLL, submit, wait_done
from tests.http.serve_helpers import Served, serving, write_config

FRAME_DELAY_S = 0.3


async def _open_stream(
    url: str, path: str, body: dict[str, object]
) -> tuple[aiohttp.ClientSession, aiohttp.ClientResponse]:
    session = aiohttp.ClientSession()
    headers = {"x-api-key": "k", "authorization": "Bearer k", "anthropic-version": "2023-06-01"}
    response = await session.post(url + path, json=body, headers=headers)
    assert response.status == 200, await response.text()
    await response.content.readline()  # the first frame is on its way: the stream is in flight
    return session, response


def _refused(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return False
    except ConnectionRefusedError:
        return True


async def _wait_refused(served: Served, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not _refused(served.url):
        assert time.monotonic() < deadline, "the draining gateway still accepts connections"
        await asyncio.sleep(0.05)


async def test_sigterm_lets_an_open_stream_finish_and_refuses_new_connections(
    fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    chunks = [f"part{i} " for i in range(8)]
    fake_upstream.script("/v1/chat/completions", Reply.sse(openai_sse(chunks), delay=FRAME_DELAY_S))
    config = write_config(tmp_path / "c.json", upstream_config(fake_upstream.url))
    async with serving(config, tmp_path / "app", tmp_path / "log") as served:
        session, response = await _open_stream(served.url, CHAT, openai_body(stream=True))
        async with session:
            served.signal(signal.SIGTERM)
            await _wait_refused(served)
            rest = await response.content.read()
        assert await served.exit_code(timeout=20) == 0
    events = parse_sse(rest)
    assert events[-1].data == "[DONE]"
    text = "".join(
        c["choices"][0]["delta"].get("content") or "" for c in (e.json() for e in events[:-1]) if c["choices"]
    )
    assert text.strip().endswith("part7"), text
    assert "draining" in served.log_text() and "Traceback" not in served.log_text()


async def test_a_stream_still_open_at_the_drain_timeout_ends_with_an_error_event(
    fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake_upstream.script("/v1/messages", Reply.sse(anthropic_sse(("a", "b")), hang_after=3))
    config = write_config(tmp_path / "c.json", upstream_config(fake_upstream.url))
    async with serving(config, tmp_path / "app", tmp_path / "log", "--drain-timeout", "1") as served:
        session, response = await _open_stream(served.url, "/anthropic/v1/messages", anthropic_body(stream=True))
        async with session:
            started = time.monotonic()
            served.signal(signal.SIGTERM)
            rest = await asyncio.wait_for(response.content.read(), timeout=15)
            ended = time.monotonic() - started
        assert await served.exit_code(timeout=20) == 0
    events = parse_sse(rest)
    assert events[-1].event == "error", events
    assert events[-1].json()["error"]["type"] == "overloaded_error"
    assert 0.8 < ended < 5.0  # at the deadline, not before it and not at aiohttp's own later cut
    assert "Traceback" not in served.log_text()


async def test_an_async_job_accepted_before_sigterm_is_completed(fake_upstream: FakeUpstream, tmp_path: Path) -> None:
    # Answered whether the job finishes in the stopping gateway or runs again in the next one.
    fake_upstream.default("/v1/chat/completions", Reply.json(openai_completion("done"), delay=0.5))
    config = write_config(tmp_path / "c.json", upstream_config(fake_upstream.url))
    app_dir = tmp_path / "app"
    async with serving(config, app_dir, tmp_path / "log", "--drain-timeout", "1") as served:
        async with Http(served.url) as http:
            job_id = (await submit(http, CHAT, openai_body(text="job"))).headers[POLL]
        served.signal(signal.SIGTERM)
        assert await served.exit_code(timeout=30) == 0
    async with serving(config, app_dir, tmp_path / "log2") as served, Http(served.url) as http:
        done = await wait_done(http, CHAT, job_id, timeout=15)
    assert done.status == 200, done
