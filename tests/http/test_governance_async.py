"""Governance and async jobs (`x-bf-async: true`): a job submitted with a virtual key can only be polled with that
key, and what the job spends is the key's."""

from __future__ import annotations

import pytest

from gateway.testing import (
    Answer,
    FakeUpstream,
    Http,
    Reply,
    anthropic_message,
    anthropic_usage,
    assert_anthropic_error,
    assert_openai_error,
    openai_body,
    openai_completion,
)
from tests.conftest import MakeGateway
from tests.http.async_helpers import POLL, STATUS, SUBMIT, TERMINAL, job_status, poll_until
from tests.http.governance_helpers import (
    CHAT,
    CLAUDE_BODY,
    GPT_BODY,
    MESSAGES,
    UP_CHAT,
    UP_MESSAGES,
    VK_A,
    VK_B,
    bearer,
    budget,
    config,
    settled,
    used,
    vk,
)


async def wait_done(raw: Http, path: str, job_id: str, key: str) -> Answer:
    """Poll with the key as Authorization: Bearer until the job is done, or the poll is refused."""
    return await poll_until(lambda: raw.post(path, b"{}", {POLL: job_id, **bearer(key)}), _done)


def _done(answer: Answer) -> bool:
    return job_status(answer) in TERMINAL or answer.status != 200


async def test_job_submitted_with_a_key_is_polled_only_with_that_key(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("the job's answer")))
    fake_upstream.default(UP_CHAT, Reply.json(openai_completion("the chat job's answer")))
    gw = await make_gateway(config(fake_upstream.url, vk("vk-a", VK_A), vk("vk-b", VK_B)))
    async with gw.http(None) as raw:
        submitted = await raw.post(MESSAGES, CLAUDE_BODY, {**SUBMIT, **bearer(VK_A)})
        assert submitted.status == 200, submitted
        job_id = submitted.headers[POLL]
        chat_job = (await raw.post(CHAT, GPT_BODY, {**SUBMIT, "x-bf-vk": VK_A})).headers[POLL]

        done = await wait_done(raw, MESSAGES, job_id, VK_A)
        assert done.status == 200 and done.headers[STATUS] == "completed", done
        assert done.json()["content"][0]["text"] == "the job's answer"
        chat_done = await wait_done(raw, CHAT, chat_job, VK_A)
        assert chat_done.json()["choices"][0]["message"]["content"] == "the chat job's answer"

        for other in (bearer(VK_B), {"x-api-key": VK_B}, bearer("a-client-key"), {}):
            answer = await raw.post(MESSAGES, b"{}", {POLL: job_id, **other})
            assert_anthropic_error(answer, 404, "not_found_error")
            answer = await raw.request("GET", f"/v1/async/messages/{job_id}", headers=other)
            assert_anthropic_error(answer, 404, "not_found_error")
            assert_openai_error(await raw.post(CHAT, b"{}", {POLL: chat_job, **other}), 404, "not_found_error")
        for same in ({"x-api-key": VK_A}, {"x-bf-vk": VK_A}):  # the key, in any header form
            again = await raw.post(MESSAGES, b"{}", {POLL: job_id, **same})
            assert again.status == 200 and again.body == done.body, again
        native = await raw.request("GET", f"/v1/async/messages/{job_id}", headers=bearer(VK_A))
        assert native.status == 200 and native.json()["status"] == "completed", native
    assert len(fake_upstream.requests) == 2


@pytest.mark.parametrize("path", [MESSAGES, CHAT])
async def test_a_jobs_cost_is_debited_to_its_key_and_held_to_its_budget(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, path: str
) -> None:
    usage = anthropic_usage(10, 10_000)  # $0.02001 at the test prices: the whole $0.01 budget
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("ok", usage=usage)))
    gw = await make_gateway(config(fake_upstream.url, vk("vk-a", VK_A, budgets=[budget(0.01)])))
    body = CLAUDE_BODY if path == MESSAGES else openai_body("anthropic/claude-x", max_tokens=16)
    async with gw.http(None) as raw:
        job_id = (await raw.post(path, body, {**SUBMIT, **bearer(VK_A)})).headers[POLL]
        assert (await wait_done(raw, path, job_id, VK_A)).status == 200
        await settled(gw)
        assert used(gw, "budget:vk:vk-a:0") == pytest.approx(0.02001)  # the job spent the key's budget
        submitted = await raw.post(path, body, {**SUBMIT, **bearer(VK_A)})  # refused now, at once or on poll
        answer = submitted if submitted.status != 200 else await wait_done(raw, path, submitted.headers[POLL], VK_A)
    if path == MESSAGES:
        assert_anthropic_error(answer, 402, "billing_error", "budget of virtual key 'vk-a'")
    else:
        assert_openai_error(answer, 402, "insufficient_quota", "budget of virtual key 'vk-a'")
    assert len(fake_upstream.requests) == 1
