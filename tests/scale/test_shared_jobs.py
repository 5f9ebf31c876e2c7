"""Async jobs on Redis, with real gateway processes on one real redis-server: a job accepted by one node is run by
another and polled from any (by its owner only); a node SIGKILLed while it holds jobs at the upstream has them run
by another after the visibility timeout, none lost, none started more than MAX_ATTEMPTS times (the fake upstream
counts the calls of each job), a completed one never again; results expire with their TTL; Redis down at submit
is a 503 under either `on_failure`; no secret in the stored records, answers or logs."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from gateway.jobs.service import MAX_ATTEMPTS, JobService
from gateway.testing import (
    Answer,
    Http,
    anthropic_body,
    assert_anthropic_error,
    assert_openai_error,
    dumps,
    openai_body,
    serve_gateway,
)
from tests.cache.redis_server import RedisServer
from tests.conftest import OPENAI_KEY
from tests.http.async_helpers import (
    CHAT,
    MESSAGES,
    NATIVE_CHAT,
    POLL,
    STATUS,
    TTL,
    CountingUpstream,
    answer_for,
    marker_of,
    native_wait,
    poll,
    poll_until,
    submit,
    wait_done,
)
from tests.http.governance_helpers import CLAUDE, GPT, vk

from .nodes import PASSWORD, Node, node_config, nodes

KEY = "sk-bf-jobs-key-aaaaaaaaaaaaaaaaaaaaa"
OTHER_KEY = "sk-bf-jobs-key-bbbbbbbbbbbbbbbbbbbbb"
VISIBILITY_S = 2.0
HOLD_S = 60.0  # an upstream answer held for longer than any test: the job stays at the upstream
FAST_S = 0.05
DONE_S = 20.0


@pytest.fixture
async def upstream() -> AsyncIterator[CountingUpstream]:
    async with CountingUpstream() as fake:
        fake.delay = FAST_S
        yield fake


def job_config(upstream_url: str, concurrency: int, **redis: Any) -> dict[str, Any]:
    redis = {"jobs_visibility_timeout_in_seconds": VISIBILITY_S, **redis}
    settings = node_config(upstream_url, vk("a", KEY), vk("b", OTHER_KEY), **redis)
    return settings | {"client": {**settings.get("client", {}), "async_max_concurrency": concurrency}}


@contextlib.asynccontextmanager
async def node(directory: Path, settings: dict[str, Any], redis: RedisServer) -> AsyncIterator[Node]:
    async with nodes(made(directory), 1, settings, redis.url) as (started,):
        yield started


def made(directory: Path) -> Path:
    directory.mkdir(exist_ok=True)
    return directory


async def submit_jobs(at: Node, markers: list[str], key: str = KEY) -> dict[str, str]:
    async with Http(at.url, key=key) as http:
        ids = {}
        for marker in markers:
            answer = await submit(http, CHAT, openai_body(GPT, text=marker))
            assert answer.status == 200 and answer.headers[STATUS] == "pending", answer
            ids[marker] = answer.headers[POLL]
        return ids


async def results(at: Node, ids: dict[str, str], key: str = KEY) -> dict[str, Answer]:
    async with Http(at.url, key=key) as http:
        return {m: await wait_done(http, CHAT, job_id, timeout=DONE_S) for m, job_id in ids.items()}


def assert_answered(done: dict[str, Answer]) -> None:
    for marker, answer in done.items():
        assert answer.status == 200 and answer.headers[STATUS] == "completed", (marker, answer)
        assert answer.body == dumps(answer_for(marker)).encode(), (marker, answer)


def calls(fake: CountingUpstream) -> Counter[str]:
    return Counter(marker_of(r) for r in fake.requests)


async def stored(redis: RedisServer) -> bytes:
    """Every key and value the gateways wrote to Redis, as one blob."""
    client = aioredis.Redis.from_url(redis.url)
    try:
        blob = b""
        async for key in client.scan_iter("*"):
            kind = await client.type(key)
            value = (
                await client.hgetall(key) if kind == b"hash" else await client.xrange(key) if kind == b"stream" else b""
            )
            blob += key + repr(value).encode()
        return blob
    finally:
        await client.aclose()


async def test_a_job_accepted_by_one_node_is_run_by_another_and_polled_anywhere(
    tmp_path: Path, redis: RedisServer, upstream: CountingUpstream
) -> None:
    upstream.delay = HOLD_S
    async with node(tmp_path / "a", job_config(upstream.url, 1), redis) as a:
        held = await submit_jobs(a, ["job-held"])
        await upstream.wait_requests(1)  # a's only worker is busy with it
        upstream.delay = FAST_S
        ids = await submit_jobs(a, [f"job-{i}" for i in range(4)])
        async with node(tmp_path / "b", job_config(upstream.url, 4), redis) as b:
            assert_answered(await results(b, ids))  # run by b: a's one worker still holds job-held
            async with Http(a.url, key=KEY) as http:
                assert (await poll(http, CHAT, held["job-held"])).headers[STATUS] == "running"
                for marker, job_id in ids.items():  # polled on the node that accepted it, too
                    assert (await poll(http, CHAT, job_id)).body == dumps(answer_for(marker)).encode()
            async with Http(b.url, key=KEY) as http:
                job = (await native_wait(http, NATIVE_CHAT, ids["job-0"])).json()
            assert job["status"] == "completed" and job["result"] == answer_for("job-0"), job
            async with Http(b.url, key=OTHER_KEY) as http:  # the owner check holds on every node
                assert_openai_error(await poll(http, CHAT, ids["job-0"]), 404, "not_found_error")
                assert_anthropic_error(await poll(http, MESSAGES, ids["job-0"]), 404, "not_found_error")
                assert (await http.get(f"{NATIVE_CHAT}/{ids['job-0']}")).status == 404
            logs = a.output() + b.output()
    assert calls(upstream) == Counter({"job-held": 1, **{m: 1 for m in ids}})
    blob = await stored(redis)
    for secret in (KEY, OTHER_KEY, OPENAI_KEY, PASSWORD):
        assert secret.encode() not in blob and secret not in logs
    assert b"jobs:queue" in blob and ids["job-0"].encode() in blob  # the jobs are there, the secrets are not


async def test_a_killed_node_has_its_jobs_run_by_another_after_the_visibility_timeout(
    tmp_path: Path, redis: RedisServer, upstream: CountingUpstream
) -> None:
    upstream.delay = HOLD_S
    markers = [f"job-{i}" for i in range(5)]
    async with node(tmp_path / "a", job_config(upstream.url, 2), redis) as a:
        ids = await submit_jobs(a, markers)
        await upstream.wait_requests(2)
        a.process.kill()  # with two jobs at the upstream, three in the queue
        assert a.process.wait(timeout=10) == -signal.SIGKILL
        killed = time.monotonic()
    held = set(calls(upstream))
    assert len(held) == 2, held
    upstream.delay = FAST_S
    async with node(tmp_path / "b", job_config(upstream.url, 2), redis) as b:
        done = await results(b, ids)
        assert_answered(done)
        retaken = time.monotonic() - killed
        assert retaken >= VISIBILITY_S * 0.7, retaken  # not taken from a node that might still be running them
        finished = calls(upstream)
        await asyncio.sleep(VISIBILITY_S * 1.5)  # long enough for any wrongly kept entry to be re-claimed
        assert_answered(await results(b, ids))
        assert "Traceback" not in b.output()
    assert calls(upstream) == finished  # a completed job never runs again
    assert finished == Counter({m: 2 if m in held else 1 for m in markers}), (finished, held)
    for request in upstream.requests:  # every start of a job has the job's own idempotency key
        assert request.headers["idempotency-key"] == f"bf-job-{ids[marker_of(request)]}"


async def test_a_job_interrupted_max_attempts_times_fails_with_a_reason(
    tmp_path: Path, redis: RedisServer, upstream: CountingUpstream
) -> None:
    upstream.delay = HOLD_S
    ids: dict[str, str] = {}
    for n in range(MAX_ATTEMPTS):  # a node takes the job (at first, or after the timeout) and dies holding it
        async with node(tmp_path / f"n{n}", job_config(upstream.url, 1), redis) as dying:
            ids = ids or await submit_jobs(dying, ["job-x"])
            await upstream.wait_requests(n + 1, timeout=VISIBILITY_S * 3 + 5)
            dying.process.kill()
    async with node(tmp_path / "last", job_config(upstream.url, 1), redis) as last:
        failed = (await results(last, ids))["job-x"]
        assert failed.headers[STATUS] == "failed"
        assert_openai_error(failed, 500, "server_error", f"{MAX_ATTEMPTS} times")
    assert calls(upstream) == Counter({"job-x": MAX_ATTEMPTS})  # the last node failed it without running it


async def test_results_expire_with_their_ttl_on_every_node(
    tmp_path: Path, redis: RedisServer, upstream: CountingUpstream
) -> None:
    async with nodes(tmp_path, 2, job_config(upstream.url, 2), redis.url) as (a, b):
        async with Http(a.url, key=KEY) as http:
            short = (await submit(http, CHAT, openai_body(GPT, text="job-short"), {TTL: "1"})).headers[POLL]
            kept = (await submit(http, CHAT, openai_body(GPT, text="job-kept"))).headers[POLL]
        assert_answered(await results(b, {"job-short": short, "job-kept": kept}))
        async with Http(b.url, key=KEY) as http:
            gone = await poll_until(lambda: poll(http, CHAT, short), lambda x: x.status == 404, timeout=4)
            assert_openai_error(gone, 404, "not_found_error")
            assert (await poll(http, CHAT, kept)).headers[STATUS] == "completed"
        async with Http(a.url, key=KEY) as http:
            assert_openai_error(await poll(http, CHAT, short), 404, "not_found_error")
    client = aioredis.Redis.from_url(redis.url)
    try:  # the record itself is gone from Redis (PEXPIRE), not only hidden
        await poll_until(lambda: client.exists(f"bf:jobs:job:{short}"), lambda n: n == 0, timeout=3)
        assert await client.ttl(f"bf:jobs:job:{kept}") > 3000
    finally:
        await client.aclose()


@pytest.mark.parametrize("policy", ["deny", "allow_local"])
async def test_redis_down_at_submit_is_a_503_then_jobs_run_again(
    tmp_path: Path, redis: RedisServer, upstream: CountingUpstream, policy: str
) -> None:
    async with node(tmp_path, job_config(upstream.url, 2, on_failure=policy), redis) as a:
        before = await submit_jobs(a, ["job-before"])
        assert_answered(await results(a, before))
        await redis.stop()
        async with Http(a.url, key=KEY) as http:
            refused = await submit(http, CHAT, openai_body(GPT, text="job-refused"))
            message = assert_openai_error(refused, 503, "server_error", "Redis")
            anthropic = await submit(http, MESSAGES, anthropic_body(CLAUDE, "job-refused", max_tokens=8))
            polled = await poll(http, CHAT, before["job-before"])
        assert_anthropic_error(anthropic, 503, "overloaded_error", "Redis")
        assert_openai_error(polled, 503, "server_error", "Redis")
        assert PASSWORD not in message and str(redis.port) not in message
        assert refused.headers["retry-after"] == anthropic.headers["retry-after"] == "1"
        await redis.start()  # empty: the stream and its group are made again
        after = await poll_until(lambda: submit_jobs_or_none(a), lambda x: x is not None, timeout=5)
        assert after is not None
        assert_answered(await results(a, after))
        log = a.output()
    assert "job-refused" not in calls(upstream)
    assert PASSWORD not in log and "Traceback" not in log
    assert "async jobs: Redis cannot be reached" in log and "async jobs: Redis is back" in log, log


async def submit_jobs_or_none(at: Node) -> dict[str, str] | None:
    async with Http(at.url, key=KEY) as http:
        answer = await submit(http, CHAT, openai_body(GPT, text="job-after"))
    return {"job-after": answer.headers[POLL]} if answer.status == 200 else None


async def test_a_long_job_keeps_its_claim_while_its_node_lives(
    tmp_path: Path, redis: RedisServer, upstream: CountingUpstream
) -> None:
    upstream.delay = VISIBILITY_S * 3  # far past the timeout: only the heartbeat keeps it from the idle node
    async with nodes(tmp_path, 2, job_config(upstream.url, 2), redis.url) as (a, b):
        ids = await submit_jobs(a, ["job-long"])
        assert_answered(await results(b, ids))
    assert calls(upstream) == Counter({"job-long": 1})


async def test_the_queue_bound_counts_the_jobs_waiting_on_every_node(
    tmp_path: Path, redis: RedisServer, upstream: CountingUpstream
) -> None:
    upstream.delay = HOLD_S
    settings = job_config(upstream.url, 1)
    settings["client"]["async_max_queue"] = 2
    async with nodes(tmp_path, 2, settings, redis.url) as (a, b):
        await submit_jobs(a, ["job-0", "job-1"])
        await upstream.wait_requests(2)  # one at each node's only worker
        await submit_jobs(b, ["job-2"])
        await submit_jobs(a, ["job-3"])
        async with Http(b.url, key=KEY) as http:
            full = await submit(http, CHAT, openai_body(GPT, text="job-4"))
    assert_openai_error(full, 429, "rate_limit_error", "queue is full")
    assert full.headers["retry-after"] == "1"


async def test_a_graceful_stop_gives_its_running_jobs_back_at_once(
    tmp_path: Path, redis: RedisServer, upstream: CountingUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(JobService.stop, "__defaults__", (0.3,))  # a short grace period instead of 10 s
    upstream.delay = HOLD_S
    settings = job_config(upstream.url, 1, jobs_visibility_timeout_in_seconds=60.0)
    settings["redis"]["url"] = redis.url
    async with serve_gateway(settings, app_dir=tmp_path / "a") as a, a.http(KEY) as http:
        job_id = (await submit(http, CHAT, openai_body(GPT, text="job-r"))).headers[POLL]
        await upstream.wait_requests(1)
    stopped = time.monotonic()
    upstream.delay = FAST_S
    async with serve_gateway(settings, app_dir=tmp_path / "b") as b, b.http(KEY) as http:
        done = await wait_done(http, CHAT, job_id, timeout=DONE_S)
    assert done.headers[STATUS] == "completed" and done.body == dumps(answer_for("job-r")).encode(), done
    assert time.monotonic() - stopped < 10  # released, not left for the 60 s visibility timeout
    assert calls(upstream) == Counter({"job-r": 2})
