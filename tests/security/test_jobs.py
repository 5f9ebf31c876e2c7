"""Async jobs and the upstream: a job's every run carries the job's own Idempotency-Key (so an upstream that honours
it runs a job a crash re-runs once; the crash itself is tests/http/test_async_crash.py), and nothing else does: a
client's own Idempotency-Key is not forwarded, since all tenants share the upstream account it would be scoped to."""

from __future__ import annotations

import pytest

from gateway.testing import FakeUpstream, Http, Reply, anthropic_message, openai_completion
from tests.conftest import MakeGateway, upstream_config
from tests.http.async_helpers import CHAT, MESSAGES, POLL, submit, wait_done

CASES = [(CHAT, "/v1/chat/completions", "openai/gpt-x"), (MESSAGES, "/v1/messages", "anthropic/claude-x")]


@pytest.mark.parametrize(("route", "upstream_path", "model"), CASES)
async def test_a_job_asks_with_its_own_idempotency_key_and_a_call_with_none(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, route: str, upstream_path: str, model: str
) -> None:
    fake_upstream.default("/v1/chat/completions", Reply.json(openai_completion("ok")))
    fake_upstream.default("/v1/messages", Reply.json(anthropic_message("ok")))
    gw = await make_gateway(upstream_config(fake_upstream.url))
    body = {"model": model, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    async with Http(gw.url) as http:
        direct = await http.post(route, body, headers={"Idempotency-Key": "client-chosen"})
        assert direct.status == 200, direct
        submitted = await submit(http, route, body)
        job_id = submitted.headers[POLL]
        done = await wait_done(http, route, job_id)
        assert done.status == 200, done
    sync_call, job_call = fake_upstream.requests_to(upstream_path)
    assert "idempotency-key" not in sync_call.headers
    assert job_call.headers["idempotency-key"] == f"bf-job-{job_id}"
