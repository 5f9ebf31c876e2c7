"""Async jobs with virtual keys (the governance plugin): the job belongs to the virtual key that submitted it,
and it is governed like the synchronous call it stands for: the key's allowed models and its rate limit."""

from __future__ import annotations

from typing import Any

from gateway.testing import (
    Answer,
    FakeUpstream,
    Http,
    Reply,
    anthropic_body,
    anthropic_message,
    assert_anthropic_error,
    openai_completion,
)
from tests.conftest import CLIENT_KEY, MakeGateway, upstream_config
from tests.http.async_helpers import (
    MESSAGES,
    NATIVE_MESSAGES,
    POLL,
    STATUS,
    UP_CHAT,
    UP_MESSAGES,
    poll,
    submit,
    wait_done,
)

VK_A = "sk-bf-alpha-0123456789"
VK_B = "sk-bf-beta-0123456789"


def _governed(url: str) -> dict[str, Any]:
    config = upstream_config(url)
    config["governance"] = {
        "virtual_keys": [
            {
                "id": "vk-a",
                "name": "alpha",
                "value": VK_A,
                "provider_configs": [{"provider": "anthropic", "allowed_models": ["claude-x"]}],
                "rate_limit": {"request_max_limit": 2, "request_reset_duration": "1Y"},
            },
            {
                "id": "vk-b",
                "name": "beta",
                "value": VK_B,
                "provider_configs": [{"provider": "anthropic"}, {"provider": "openai"}],
            },
        ]
    }
    return config


def _refused(submitted: Answer, polled: Answer | None, status: int, kind: str) -> None:
    """Refused as the synchronous call would be: at submit, or as the failed job's answer."""
    if submitted.status != 200:
        assert_anthropic_error(submitted, status, kind)
        return
    assert polled is not None
    assert polled.headers[STATUS] == "failed", polled
    assert_anthropic_error(polled, status, kind)


async def test_job_belongs_to_its_virtual_key(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    gw = await make_gateway(_governed(fake_upstream.url))
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("governed")))
    async with Http(gw.url, key=VK_B) as http:
        job_id = (await submit(http, MESSAGES, anthropic_body())).headers[POLL]
        done = await wait_done(http, MESSAGES, job_id)
        assert done.status == 200 and done.headers[STATUS] == "completed", done
        for other in (VK_A, CLIENT_KEY, None):
            assert_anthropic_error(await poll(http, MESSAGES, job_id, key=other), 404, "not_found_error")
            assert_anthropic_error(await http.get(f"{NATIVE_MESSAGES}/{job_id}", key=other), 404, "not_found_error")
        by_header = await http.post(MESSAGES, b"{}", {POLL: job_id, "x-bf-vk": VK_B}, key=None)
        assert by_header.status == 200 and by_header.headers[STATUS] == "completed", by_header


async def test_job_obeys_the_keys_allowed_models(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    gw = await make_gateway(_governed(fake_upstream.url))
    fake_upstream.default(UP_CHAT, Reply.json(openai_completion("should not be asked")))
    async with Http(gw.url, key=VK_A) as http:
        sync = await http.post(MESSAGES, anthropic_body("openai/gpt-x"))
        assert_anthropic_error(sync, 403, "permission_error")
        submitted = await submit(http, MESSAGES, anthropic_body("openai/gpt-x"))
        polled = await wait_done(http, MESSAGES, submitted.headers[POLL]) if submitted.status == 200 else None
    _refused(submitted, polled, 403, "permission_error")
    assert fake_upstream.requests_to(UP_CHAT) == []  # vk-a may not use openai, not even through a job


async def test_job_counts_against_the_keys_rate_limit(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    gw = await make_gateway(_governed(fake_upstream.url))
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("limited")))
    async with Http(gw.url, key=VK_A) as http:
        for _ in range(2):  # vk-a's whole allowance
            assert (await http.post(MESSAGES, anthropic_body())).status == 200
        assert_anthropic_error(await http.post(MESSAGES, anthropic_body()), 429, "rate_limit_error")
        submitted = await submit(http, MESSAGES, anthropic_body())
        polled = await wait_done(http, MESSAGES, submitted.headers[POLL]) if submitted.status == 200 else None
    _refused(submitted, polled, 429, "rate_limit_error")
    assert len(fake_upstream.requests_to(UP_MESSAGES)) == 2
