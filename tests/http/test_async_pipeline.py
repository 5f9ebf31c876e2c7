"""A job is a synchronous call run later: the same hooks see it as the submitting caller, usage is recorded,
upstream retries apply; and admission keeps its bound when submits arrive together."""

from __future__ import annotations

import asyncio
import hashlib

from gateway import CallContext, ChatCall, PermissionDenied, Principal, hookimpl
from gateway.schemas import anthropic as a
from gateway.testing import (
    FakeUpstream,
    Http,
    Reply,
    anthropic_body,
    anthropic_message,
    anthropic_usage,
    assert_anthropic_error,
    openai_body,
    openai_completion,
)
from tests.conftest import CLIENT_KEY, MakeGateway, upstream_config
from tests.http.async_helpers import CHAT, MESSAGES, POLL, STATUS, UP_CHAT, UP_MESSAGES, submit, wait_done

CALLER = Principal(id="key_" + hashlib.sha256(CLIENT_KEY.encode()).hexdigest()[:16], kind="client_key")


async def test_hooks_see_the_submitting_caller_and_usage_is_recorded(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    authorized: list[tuple[str, Principal | None]] = []
    usages: asyncio.Queue[tuple[a.Usage, Principal | None]] = asyncio.Queue()

    class Spy:
        @hookimpl
        def gw_authorize(self, call: ChatCall, ctx: CallContext) -> None:
            authorized.append((call.model, ctx.principal))
            if call.model.endswith("forbidden"):
                raise PermissionDenied(f"model {call.model} is not allowed")

        @hookimpl
        def gw_record_usage(self, usage: a.Usage, ctx: CallContext) -> None:
            usages.put_nowait((usage, ctx.principal))

    usage = anthropic_usage(input_tokens=7, output_tokens=9)
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("metered", usage=usage)))
    gw = await make_gateway(upstream_config(fake_upstream.url), [Spy()])
    async with Http(gw.url) as http:
        ok = (await submit(http, MESSAGES, anthropic_body())).headers[POLL]
        denied = (await submit(http, MESSAGES, anthropic_body("claude-forbidden"))).headers[POLL]
        assert (await wait_done(http, MESSAGES, ok)).headers[STATUS] == "completed"
        refused = await wait_done(http, MESSAGES, denied)
    assert refused.headers[STATUS] == "failed"
    assert_anthropic_error(refused, 403, "permission_error", "not allowed")
    assert sorted(authorized, key=lambda x: x[0]) == [("claude-forbidden", CALLER), ("claude-x", CALLER)]
    recorded, principal = await asyncio.wait_for(usages.get(), 5)
    assert (recorded.input_tokens, recorded.output_tokens) == (7, 9)
    assert principal == CALLER
    assert len(fake_upstream.requests) == 1  # the denied job never reached the upstream


async def test_job_retries_the_upstream_like_a_sync_call(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    config = upstream_config(fake_upstream.url)
    config["providers"]["openai"]["network_config"].update(
        {"max_retries": 2, "retry_backoff_initial": 10, "retry_backoff_max": 20}
    )
    gw = await make_gateway(config)
    fake_upstream.script(
        UP_CHAT,
        Reply.error(500, "server_error", "flaky", dialect="openai"),
        Reply.error(503, "server_error", "flaky", dialect="openai"),
        Reply.json(openai_completion("third time lucky")),
    )
    async with Http(gw.url) as http:
        job_id = (await submit(http, CHAT, openai_body())).headers[POLL]
        done = await wait_done(http, CHAT, job_id)
    assert done.status == 200 and done.headers[STATUS] == "completed", done
    assert done.json()["choices"][0]["message"]["content"] == "third time lucky"
    assert len(fake_upstream.requests_to(UP_CHAT)) == 3


async def test_concurrent_submits_do_not_overfill_the_queue(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    """async_max_queue bounds the waiting jobs even when many submits arrive at the same moment."""
    gw = await make_gateway(upstream_config(fake_upstream.url, async_max_concurrency=1, async_max_queue=2))
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("slow"), delay=1.0))
    async with Http(gw.url) as http:
        first = await submit(http, MESSAGES, anthropic_body())
        assert first.status == 200
        await fake_upstream.wait_requests(1)  # the one worker is busy: every further job has to wait
        answers = await asyncio.gather(*(submit(http, MESSAGES, anthropic_body()) for _ in range(8)))
    statuses = sorted(answer.status for answer in answers)
    assert statuses == [200, 200] + [429] * 6, statuses
