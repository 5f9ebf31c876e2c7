"""Jobs outlive the gateway that accepted them: a graceful shutdown leaves waiting jobs (and running jobs it
could not finish) for the next gateway on the same app dir, which runs each exactly once more; a job the
gateway was killed in MAX_ATTEMPTS times fails with a reason instead of running forever."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import subprocess
from pathlib import Path

import aiohttp
import pytest

from gateway.jobs.service import JobService
from gateway.testing import (
    FakeUpstream,
    Http,
    Reply,
    assert_openai_error,
    dumps,
    openai_body,
    openai_completion,
    serve_gateway,
)
from tests.conftest import MakeGateway, upstream_config
from tests.http.async_helpers import (
    CHAT,
    DB_FILE,
    NATIVE_CHAT,
    POLL,
    STATUS,
    SUBMIT,
    UP_CHAT,
    CountingUpstream,
    answer_for,
    edit_jobs,
    free_port,
    job_rows,
    marker_of,
    native_wait,
    poll,
    read_log,
    reap,
    spawn_gateway,
    submit,
    wait_done,
    wait_healthy,
    write_openai_config,
)


def _marker(fake: FakeUpstream, n: int) -> str:
    body = fake.requests[n].json
    assert isinstance(body, dict)
    return str(body["messages"][-1]["content"])


async def test_waiting_job_survives_a_graceful_shutdown(fake_upstream: FakeUpstream, tmp_path: Path) -> None:
    config = upstream_config(fake_upstream.url, async_max_concurrency=1)
    fake_upstream.default(UP_CHAT, Reply.json(openai_completion("done"), delay=0.5))
    async with serve_gateway(config, app_dir=tmp_path) as gw, gw.http() as http:
        running = (await submit(http, CHAT, openai_body(text="job-A"))).headers[POLL]
        waiting = (await submit(http, CHAT, openai_body(text="job-B"))).headers[POLL]
        await fake_upstream.wait_requests(1)
    # stopped gracefully: job-A finished within the grace period; job-B never started
    assert [_marker(fake_upstream, i) for i in range(len(fake_upstream.requests))] == ["job-A"]
    assert job_rows(tmp_path) == {running: ("completed", 1), waiting: ("pending", 0)}

    async with serve_gateway(config, app_dir=tmp_path) as gw, gw.http() as http:
        for job_id in (running, waiting):
            done = await wait_done(http, CHAT, job_id)
            assert done.status == 200 and done.headers[STATUS] == "completed", done
            assert done.json()["choices"][0]["message"]["content"] == "done"
    assert [_marker(fake_upstream, i) for i in range(len(fake_upstream.requests))] == ["job-A", "job-B"]


async def test_running_job_is_requeued_when_shutdown_cannot_wait(
    fake_upstream: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(JobService.stop, "__defaults__", (0.3,))  # a short grace period instead of 10 s
    config = upstream_config(fake_upstream.url, async_max_concurrency=1)
    fake_upstream.script(UP_CHAT, Reply.hang(), Reply.json(openai_completion("second try")))
    async with serve_gateway(config, app_dir=tmp_path) as gw, gw.http() as http:
        job_id = (await submit(http, CHAT, openai_body(text="job-A"))).headers[POLL]
        await fake_upstream.wait_requests(1)
        assert (await poll(http, CHAT, job_id)).headers[STATUS] == "running"
    await fake_upstream.wait_disconnects(1)  # the interrupted upstream call was abandoned, not left open
    assert job_rows(tmp_path) == {job_id: ("pending", 1)}  # released: the next gateway runs it again

    async with serve_gateway(config, app_dir=tmp_path) as gw, gw.http() as http:
        done = await wait_done(http, CHAT, job_id)
    assert done.status == 200 and done.headers[STATUS] == "completed", done
    assert done.json()["choices"][0]["message"]["content"] == "second try"
    assert len(fake_upstream.requests) == 2
    assert job_rows(tmp_path) == {job_id: ("completed", 2)}


async def test_job_interrupted_three_times_fails_with_a_reason(fake_upstream: FakeUpstream, tmp_path: Path) -> None:
    """What three crashes mid-run leave in the store (status running, attempts 3) is staged directly."""
    config = upstream_config(fake_upstream.url, async_max_concurrency=1)
    fake_upstream.default(UP_CHAT, Reply.json(openai_completion("finally"), delay=0.3))
    async with serve_gateway(config, app_dir=tmp_path) as gw, gw.http() as http:
        ids = [(await submit(http, CHAT, openai_body(text=f"job-{i}"))).headers[POLL] for i in range(3)]
        native = (await http.post(NATIVE_CHAT, openai_body(text="job-native"))).json()["id"]
        await fake_upstream.wait_requests(1)
    assert job_rows(tmp_path)[ids[0]] == ("completed", 1)
    given_up, retried = ids[1], ids[2]
    assert (
        edit_jobs(tmp_path, "UPDATE jobs SET status = 'running', attempts = 3 WHERE id IN (?, ?)", given_up, native)
        == 2
    )
    assert edit_jobs(tmp_path, "UPDATE jobs SET status = 'running', attempts = 2 WHERE id = ?", retried) == 1
    calls_before = len(fake_upstream.requests)

    async with serve_gateway(config, app_dir=tmp_path) as gw, gw.http() as http:
        failed = await wait_done(http, CHAT, given_up)
        job = (await native_wait(http, NATIVE_CHAT, native)).json()
        done = await wait_done(http, CHAT, retried)
        again = await wait_done(http, CHAT, ids[0])
    assert failed.headers[STATUS] == "failed"
    assert_openai_error(failed, 500, "server_error", "3 times")  # the reason says why it was given up
    assert job["status"] == "failed" and job["status_code"] == 500 and "3 times" in job["error"]["error"]["message"]
    assert done.status == 200 and done.headers[STATUS] == "completed"
    assert again.status == 200 and again.headers[STATUS] == "completed"
    new_calls = [_marker(fake_upstream, i) for i in range(calls_before, len(fake_upstream.requests))]
    assert new_calls == ["job-2"]  # only the job with attempts left ran; the completed one never again
    assert job_rows(tmp_path)[retried] == ("completed", 3)


async def test_submit_abandoned_by_its_client_leaves_no_orphan_job(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    """The client gives up while the job's insert waits on the store: the job may be stored or not, but a stored
    job must run (not sit pending until some later restart runs it by surprise)."""
    gw = await make_gateway(upstream_config(fake_upstream.url), app_dir=tmp_path)
    fake_upstream.default(UP_CHAT, Reply.json(openai_completion("late")))
    async with Http(gw.url) as http:  # the store exists once the gateway has answered something
        assert (await poll(http, CHAT, "warm-up")).status == 404
    blocker = sqlite3.connect(tmp_path / DB_FILE, timeout=5, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # hold the write lock: the gateway's insert has to wait
        timeout = aiohttp.ClientTimeout(total=0.3)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            with contextlib.suppress(TimeoutError):
                await session.post(gw.url + CHAT, json=openai_body(text="abandoned"), headers=SUBMIT)
                raise AssertionError("the submit answered while the store was locked")
        await asyncio.sleep(0.2)  # the gateway notices the client is gone
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    async with Http(gw.url) as http:  # the store is used again, for a job whose client waits for the answer
        later = await submit(http, CHAT, openai_body(text="later"))
        assert (await wait_done(http, CHAT, later.headers[POLL])).headers[STATUS] == "completed"
    await asyncio.sleep(0.5)  # a stored job is queued and runs at once
    rows = job_rows(tmp_path)
    assert all(status == "completed" for status, _ in rows.values()), rows
    assert len(fake_upstream.requests) == len(rows)


async def test_sigterm_lets_running_jobs_finish_and_the_restart_runs_the_rest(tmp_path: Path) -> None:
    """`gateway serve` stopped with SIGTERM: the running job completes before the process exits, the waiting
    ones stay pending in the store, and the next process on the same app dir runs each of them once."""
    app_dir, log = tmp_path / "app", tmp_path / "gateway.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        async with (fake := CountingUpstream()):
            fake.delay = 0.8
            config = write_openai_config(tmp_path / "config.json", fake.url, async_max_concurrency=1)
            procs.append(spawn_gateway(config, port, app_dir, log))
            await wait_healthy(procs[0], url, log)
            async with Http(url) as http:
                ids = {
                    f"job-{i}": (await submit(http, CHAT, openai_body(text=f"job-{i}"))).headers[POLL] for i in range(3)
                }
                await fake.wait_requests(1)
                procs[0].send_signal(signal.SIGTERM)
                assert await asyncio.to_thread(procs[0].wait, 10) in (0, -signal.SIGTERM)
                rows = job_rows(app_dir)
                assert [rows[ids[m]] for m in sorted(ids)] == [("completed", 1), ("pending", 0), ("pending", 0)]
                fake.delay = 0.05
                procs.append(spawn_gateway(config, port, app_dir, log))
                await wait_healthy(procs[1], url, log)
                for marker, job_id in ids.items():
                    done = await wait_done(http, CHAT, job_id)
                    assert done.headers[STATUS] == "completed" and done.body == dumps(answer_for(marker)).encode()
            assert sorted(marker_of(r) for r in fake.requests) == sorted(ids)  # each job ran exactly once
    finally:
        reap(procs)
    assert "Traceback" not in read_log(log)
