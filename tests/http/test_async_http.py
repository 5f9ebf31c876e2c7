"""Async jobs over raw HTTP: the native routes, errors (unknown job, stream, bad TTL, full queue), failed
upstreams, the pipeline a job runs through, and who may poll a job."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from gateway.testing import (
    FakeUpstream,
    Http,
    Reply,
    anthropic_body,
    anthropic_message,
    assert_anthropic_error,
    assert_openai_error,
    openai_body,
    openai_completion,
)
from tests.conftest import ANTHROPIC_KEY, CLIENT_KEY, OPENAI_KEY, Gateway, MakeGateway, upstream_config
from tests.http.async_helpers import (
    CHAT,
    MESSAGES,
    NATIVE_CHAT,
    NATIVE_MESSAGES,
    POLL,
    STATUS,
    TTL,
    UP_CHAT,
    UP_MESSAGES,
    iso_seconds,
    native_wait,
    poll,
    submit,
    wait_done,
    without,
)

ANTHROPIC_REPLY = anthropic_message("native answer", id="msg_native01")
OPENAI_REPLY = openai_completion("native answer", id="chatcmpl-native01")

# --- native routes ---------------------------------------------------------------------------------------------

NATIVE_CASES = [
    pytest.param(
        NATIVE_MESSAGES, MESSAGES, UP_MESSAGES, anthropic_body("anthropic/claude-x"), ANTHROPIC_REPLY, id="messages"
    ),
    pytest.param(NATIVE_CHAT, CHAT, UP_CHAT, openai_body("openai/gpt-x"), OPENAI_REPLY, id="chat"),
]


@pytest.mark.parametrize(("native", "route", "up_path", "body", "reply"), NATIVE_CASES)
async def test_native_submit_202_then_get_202_then_200_with_the_sync_result(
    gateway: Gateway,
    fake_upstream: FakeUpstream,
    native: str,
    route: str,
    up_path: str,
    body: dict[str, Any],
    reply: dict[str, Any],
) -> None:
    fake_upstream.script(up_path, Reply.json(reply), Reply.json(reply, delay=0.4))
    async with Http(gateway.url) as http:
        sync = await http.post(route, body)
        assert sync.status == 200, sync
        before = time.time()
        submitted = await http.post(native, body)
        assert submitted.status == 202, submitted
        job = submitted.json()
        assert set(job) == {"id", "status", "created_at"}, job
        assert job["status"] == "pending"
        assert uuid.UUID(job["id"]).version == 4
        assert before - 1 <= iso_seconds(job["created_at"]) <= time.time() + 1
        assert submitted.headers[POLL] == job["id"] and submitted.headers[STATUS] == "pending"

        waiting = await http.get(f"{native}/{job['id']}")
        assert waiting.status == 202, waiting
        assert waiting.json()["status"] in ("pending", "running")
        assert "result" not in waiting.json() and "error" not in waiting.json()

        done = await native_wait(http, native, job["id"])
    assert done.status == 200, done
    finished = done.json()
    assert finished["id"] == job["id"] and finished["created_at"] == job["created_at"]
    assert finished["status"] == "completed" and finished["status_code"] == 200
    assert finished["result"] == sync.json()  # the synchronous answer, as JSON inside the job object
    assert "error" not in finished
    completed_at = iso_seconds(finished["completed_at"])
    assert iso_seconds(job["created_at"]) <= completed_at
    assert iso_seconds(finished["expires_at"]) == pytest.approx(completed_at + 3600, abs=0.01)  # the default TTL
    assert done.headers[STATUS] == "completed"
    assert len(fake_upstream.requests_to(up_path)) == 2


async def test_native_job_is_also_pollable_on_its_dialect_route(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(UP_CHAT, Reply.json(OPENAI_REPLY))
    async with Http(gateway.url) as http:
        job = (await http.post(NATIVE_CHAT, openai_body())).json()
        await native_wait(http, NATIVE_CHAT, job["id"])
        polled = await poll(http, CHAT, job["id"])
    assert polled.status == 200 and polled.headers[STATUS] == "completed"
    assert polled.json() == OPENAI_REPLY


async def test_ttl_from_config_and_from_the_header(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    gw = await make_gateway(upstream_config(fake_upstream.url, async_job_result_ttl=50))
    fake_upstream.default(UP_CHAT, Reply.json(OPENAI_REPLY))
    async with Http(gw.url) as http:
        default = (await http.post(NATIVE_CHAT, openai_body())).json()["id"]
        custom = (await http.post(NATIVE_CHAT, openai_body(), {TTL: "120"})).json()["id"]
        for job_id, ttl in ((default, 50), (custom, 120)):
            job = (await native_wait(http, NATIVE_CHAT, job_id)).json()
            assert iso_seconds(job["expires_at"]) - iso_seconds(job["completed_at"]) == pytest.approx(ttl, abs=0.01)


# --- errors --------------------------------------------------------------------------------------------------


async def test_unknown_job_is_404_in_each_dialect(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    unknown = str(uuid.uuid4())
    async with Http(gateway.url) as http:
        for path in (MESSAGES, "/v1/messages"):
            assert_anthropic_error(await poll(http, path, unknown), 404, "not_found_error")
        assert_anthropic_error(await http.get(f"{NATIVE_MESSAGES}/{unknown}"), 404, "not_found_error")
        for path in (CHAT, "/openai/v1/chat/completions"):
            assert_openai_error(await poll(http, path, unknown), 404, "not_found_error")
        assert_openai_error(await http.get(f"{NATIVE_CHAT}/{unknown}"), 404, "not_found_error")
        assert_openai_error(await poll(http, CHAT, "not-even-a-uuid"), 404, "not_found_error")
    assert fake_upstream.requests == []


async def test_stream_with_async_is_400(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    async with Http(gateway.url) as http:
        for answer in (
            await submit(http, MESSAGES, anthropic_body(stream=True)),
            await http.post(NATIVE_MESSAGES, anthropic_body("anthropic/claude-x", stream=True)),
        ):
            assert_anthropic_error(answer, 400, "invalid_request_error", "stream")
        for answer in (
            await submit(http, CHAT, openai_body(stream=True)),
            await http.post(NATIVE_CHAT, openai_body(stream=True)),
        ):
            assert_openai_error(answer, 400, "invalid_request_error", "stream")
        assert POLL not in answer.headers
    assert fake_upstream.requests == []


@pytest.mark.parametrize("ttl", ["abc", "0", "-5", "1.5", ""])
async def test_invalid_ttl_header_is_400(gateway: Gateway, fake_upstream: FakeUpstream, ttl: str) -> None:
    async with Http(gateway.url) as http:
        answer = await submit(http, MESSAGES, anthropic_body(), {TTL: ttl})
        assert_anthropic_error(answer, 400, "invalid_request_error", TTL)
        assert POLL not in answer.headers
        assert_openai_error(await submit(http, CHAT, openai_body(), {TTL: ttl}), 400, "invalid_request_error")
        assert_openai_error(await http.post(NATIVE_CHAT, openai_body(), {TTL: ttl}), 400, "invalid_request_error")
    assert fake_upstream.requests == []


FAILURES = [
    pytest.param(
        MESSAGES,
        anthropic_body(),
        UP_MESSAGES,
        Reply.error(400, "invalid_request_error", "prompt is too long", dialect="anthropic"),
        400,
        "anthropic",
        id="anthropic-400",
    ),
    pytest.param(
        MESSAGES,
        anthropic_body(),
        UP_MESSAGES,
        Reply.error(500, "api_error", "upstream broke", dialect="anthropic"),
        500,
        "anthropic",
        id="anthropic-500",
    ),
    pytest.param(
        CHAT,
        openai_body(),
        UP_CHAT,
        Reply.error(400, "invalid_request_error", "bad messages", dialect="openai"),
        400,
        "openai",
        id="openai-400",
    ),
    pytest.param(
        CHAT,
        openai_body(),
        UP_CHAT,
        Reply.error(500, "server_error", "upstream broke", dialect="openai"),
        500,
        "openai",
        id="openai-500",
    ),
    pytest.param(
        CHAT,
        openai_body("anthropic/claude-x"),
        UP_MESSAGES,
        Reply.error(400, "invalid_request_error", "translated", dialect="anthropic"),
        400,
        "openai",
        id="openai-route-anthropic-400",
    ),
]


@pytest.mark.parametrize(("route", "body", "up_path", "reply", "status", "dialect"), FAILURES)
async def test_failed_upstream_gives_its_error_on_poll(
    make_gateway: MakeGateway,
    fake_upstream: FakeUpstream,
    route: str,
    body: dict[str, Any],
    up_path: str,
    reply: Reply,
    status: int,
    dialect: str,
) -> None:
    config = upstream_config(fake_upstream.url)
    for provider in ("anthropic", "openai"):
        config["providers"][provider]["network_config"]["max_retries"] = 0
    gw = await make_gateway(config)
    fake_upstream.script(up_path, reply, reply, reply)
    async with Http(gw.url) as http:
        sync = await http.post(route, body)
        submitted = await submit(http, route, body)
        assert submitted.status == 200 and submitted.headers[STATUS] == "pending", submitted
        job_id = submitted.headers[POLL]
        failed = await wait_done(http, route, job_id)
        native = NATIVE_MESSAGES if dialect == "anthropic" else NATIVE_CHAT
        job = (await http.get(f"{native}/{job_id}")).json()
        native_submitted = (await http.post(native, {**body, "model": _native_model(body["model"], route)})).json()
        native_failed = (await native_wait(http, native, native_submitted["id"])).json()
    assert failed.headers[STATUS] == "failed" and failed.headers[POLL] == job_id
    assert failed.status == status == sync.status, (failed, sync)
    check = assert_anthropic_error if dialect == "anthropic" else assert_openai_error
    check(failed, status, sync.json()["error"]["type"])
    assert without(failed.json(), "request_id") == without(sync.json(), "request_id")  # as the sync call said
    assert job["status"] == "failed" and job["status_code"] == status and "result" not in job
    assert without(job["error"], "request_id") == without(sync.json(), "request_id")
    assert native_failed["status"] == "failed" and native_failed["status_code"] == status
    assert len(fake_upstream.requests_to(up_path)) == 3  # no retries: one call each


def _native_model(model: str, route: str) -> str:
    """The native routes have no route prefix: a bare model needs its provider named."""
    return model if "/" in model else ("anthropic/" if route == MESSAGES else "openai/") + model


# --- the pipeline and ownership ----------------------------------------------------------------------------


async def test_job_runs_through_the_pipeline(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.default(UP_MESSAGES, Reply.json(ANTHROPIC_REPLY))
    fake_upstream.default(UP_CHAT, Reply.json(OPENAI_REPLY))
    async with Http(gateway.url) as http:
        jobs = [
            (MESSAGES, (await submit(http, MESSAGES, anthropic_body("openai/gpt-x"))).headers[POLL]),
            (CHAT, (await submit(http, CHAT, openai_body("anthropic/claude-x"))).headers[POLL]),
            (MESSAGES, (await submit(http, MESSAGES, anthropic_body("claude-x"))).headers[POLL]),
        ]
        for route, job_id in jobs:
            done = await wait_done(http, route, job_id)
            assert done.headers[STATUS] == "completed", done
            for _ in range(3):  # polls, even with another body, never reach the upstream
                await poll(http, route, job_id, body=b"not json at all")
                await poll(http, route, job_id, body=anthropic_body("openai/other"))
    to_openai = fake_upstream.requests_to(UP_CHAT)
    to_anthropic = fake_upstream.requests_to(UP_MESSAGES)
    assert len(to_openai) == 1 and len(to_anthropic) == 2
    assert to_openai[0].headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert to_openai[0].json["model"] == "gpt-x"  # the provider prefix is stripped
    assert to_openai[0].json["messages"][-1]["content"] == "hi"
    for sent in to_anthropic:
        assert sent.headers["x-api-key"] == ANTHROPIC_KEY
        assert sent.json["model"] == "claude-x"
    assert to_anthropic[1].headers["anthropic-version"] == "2023-06-01"  # the client's header, kept with the job
    for sent in fake_upstream.requests:
        assert CLIENT_KEY not in str(sent.headers)  # the client key is never forwarded


async def test_only_the_submitting_key_can_poll(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.default(UP_MESSAGES, Reply.json(ANTHROPIC_REPLY))
    fake_upstream.default(UP_CHAT, Reply.json(OPENAI_REPLY))
    async with Http(gateway.url, key="key-A") as http:
        by_a = (await submit(http, MESSAGES, anthropic_body())).headers[POLL]
        by_a_chat = (await http.post(NATIVE_CHAT, openai_body())).json()["id"]
        anonymous = (await submit(http, MESSAGES, anthropic_body(), key=None)).headers[POLL]
        assert (await wait_done(http, MESSAGES, by_a)).status == 200
        assert (await native_wait(http, NATIVE_CHAT, by_a_chat)).status == 200
        assert (await wait_done(http, MESSAGES, anonymous, key=None)).status == 200
        for other in ("key-B", None):
            assert_anthropic_error(await poll(http, MESSAGES, by_a, key=other), 404, "not_found_error")
            assert_anthropic_error(await http.get(f"{NATIVE_MESSAGES}/{by_a}", key=other), 404, "not_found_error")
            assert_openai_error(await http.get(f"{NATIVE_CHAT}/{by_a_chat}", key=other), 404, "not_found_error")
        for other in ("key-A", "key-B"):
            assert_anthropic_error(await poll(http, MESSAGES, anonymous, key=other), 404, "not_found_error")
        # Authorization: Bearer with the same key is the same caller.
        same = await http.post(MESSAGES, b"{}", {POLL: by_a, "Authorization": "Bearer key-A"}, key=None)
        assert same.status == 200 and same.headers[STATUS] == "completed", same


# --- a full queue ----------------------------------------------------------------------------------------------


async def test_full_queue_is_429_with_retry_after_and_admitted_jobs_complete(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    gw = await make_gateway(upstream_config(fake_upstream.url, async_max_concurrency=1, async_max_queue=2))
    fake_upstream.default(UP_MESSAGES, Reply.json(ANTHROPIC_REPLY, delay=0.5))
    admitted: list[str] = []
    async with Http(gw.url) as http:
        refused = None
        for _ in range(6):
            answer = await submit(http, MESSAGES, anthropic_body())
            if answer.status != 200:
                refused = answer
                break
            admitted.append(answer.headers[POLL])
            if len(admitted) == 1:
                await fake_upstream.wait_requests(1)  # the first job is running, no longer waiting in the queue
        assert refused is not None, "the queue never filled"
        assert len(admitted) == 3  # one running + async_max_queue waiting
        assert_anthropic_error(refused, 429, "rate_limit_error")
        assert int(refused.headers["retry-after"]) >= 1
        assert POLL not in refused.headers

        for answer in (await submit(http, CHAT, openai_body()), await http.post(NATIVE_CHAT, openai_body())):
            assert_openai_error(answer, 429, "rate_limit_error")
            assert int(answer.headers["retry-after"]) >= 1
        assert_anthropic_error(
            await http.post(NATIVE_MESSAGES, anthropic_body("anthropic/claude-x")), 429, "rate_limit_error"
        )

        assert len(fake_upstream.requests) == 1  # async_max_concurrency: 1 job at a time
        for job_id in admitted:
            done = await wait_done(http, MESSAGES, job_id)
            assert done.status == 200 and done.headers[STATUS] == "completed", done
            assert done.json() == ANTHROPIC_REPLY
        assert len(fake_upstream.requests) == 3  # refused jobs never ran
        assert (await submit(http, MESSAGES, anthropic_body())).status == 200  # room again


async def test_async_header_false_is_a_plain_sync_call(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(UP_MESSAGES, Reply.json(ANTHROPIC_REPLY))
    async with Http(gateway.url) as http:
        answer = await http.post(MESSAGES, anthropic_body(), {"x-bf-async": "false"})
    assert answer.status == 200 and answer.json() == ANTHROPIC_REPLY
    assert POLL not in answer.headers and STATUS not in answer.headers
