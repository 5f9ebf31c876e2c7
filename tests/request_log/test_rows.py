"""The request log's rows, driven with the official SDKs: what a served, failed, fallen-back, cached and async
call writes, with content on and off, and never a key's value."""

from __future__ import annotations

import json
from pathlib import Path

import anthropic
import pytest

from gateway.testing import (
    FakeUpstream,
    Http,
    MakeGateway,
    Reply,
    anthropic_body,
    anthropic_message,
    anthropic_sse,
    anthropic_usage,
    openai_completion,
)
from tests.request_log.helpers import ADMIN, VIRTUAL_KEY, VK_VALUE, logged, logs, rows, written

HI: list[anthropic.types.MessageParam] = [{"role": "user", "content": "hello there"}]
UP_MESSAGES = "/v1/messages"
UP_CHAT = "/v1/chat/completions"


async def test_a_served_call_is_one_row_with_its_key_name_usage_cost_and_content(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake_upstream.default(
        UP_MESSAGES, Reply.json(anthropic_message("general kenobi", usage=anthropic_usage(1_000, 500)))
    )
    config = logged(fake_upstream.url) | {
        "governance": {"auth_config": {"admin_token": ADMIN}, "virtual_keys": [VIRTUAL_KEY]}
    }
    gw = await make_gateway(config, app_dir=tmp_path / "app")
    async with gw.anthropic(api_key=VK_VALUE) as client:
        await client.messages.create(model="anthropic/claude-sonnet-4-5", max_tokens=10, messages=HI)
    await written(gw, 1)
    (row,) = await rows(gw)
    assert (row["route"], row["dialect"], row["stream"]) == ("/anthropic/v1/messages", "anthropic", False)
    assert (row["provider"], row["upstream_model"], row["model"]) == ("anthropic", "claude-sonnet-4-5", row["model"])
    assert (row["virtual_key"], row["status"], row["error"]) == ("ci-bot", 200, None)
    assert (row["input_tokens"], row["output_tokens"]) == (1_000, 500)
    assert row["cost_usd"] == pytest.approx(1_000 * 3e-6 + 500 * 15e-6)  # the bundled Sonnet 4.5 price
    assert row["fallback_trail"] == ["anthropic/claude-sonnet-4-5"] and row["cache_hit"] is False
    assert row["latency_ms"] > 0 and row["request_id"].startswith("req_") and row["id"] >= 1
    assert row["ttft_ms"] is None  # a complete answer has no first token of its own
    content = json.loads(row["content"])
    assert content["messages"][0]["content"] == "hello there"
    assert content["answer"][0]["text"] == "general kenobi"
    assert VK_VALUE.encode() not in b"".join(p.read_bytes() for p in (tmp_path / "app").glob("logs.db*"))


async def test_a_stream_from_an_openai_client_is_logged_with_its_usage(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    gw = await make_gateway(logged(fake_upstream.url))
    async with gw.openai() as client:
        stream = await client.chat.completions.create(
            model="mock/m", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        async for _ in stream:
            pass
    await written(gw, 1)
    (row,) = await rows(gw)
    assert (row["route"], row["dialect"], row["stream"], row["provider"]) == (
        "/v1/chat/completions",
        "openai",
        True,
        "mock",
    )
    assert row["output_tokens"] > 0 and row["status"] == 200
    assert 0 < row["ttft_ms"] <= row["latency_ms"]  # time to first token: streams only


async def test_a_streamed_answer_is_logged_as_content_when_content_logging_is_on(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default(UP_MESSAGES, Reply.sse(anthropic_sse(("str", "eamed"))))
    gw = await make_gateway(logged(fake_upstream.url))
    async with gw.anthropic() as client:
        async with client.messages.stream(model="anthropic/claude-x", max_tokens=10, messages=HI) as stream:
            assert await stream.get_final_text() == "streamed"
    await written(gw, 1)
    (row,) = await rows(gw)
    assert row["stream"] is True and row["output_tokens"] > 0
    assert json.loads(row["content"])["answer"] == [{"type": "text", "text": "streamed"}]


async def test_content_is_left_out_when_disabled_or_when_the_request_opts_out(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    off = await make_gateway(logged(fake_upstream.url, disable_content_logging=True))
    on = await make_gateway(logged(fake_upstream.url))
    async with off.anthropic() as client:
        await client.messages.create(model="mock/m", max_tokens=10, messages=HI)
    async with on.anthropic(default_headers={"x-bf-disable-content-logging": "true"}) as client:
        await client.messages.create(model="mock/m", max_tokens=10, messages=HI)
    await written(off, 1)
    await written(on, 1)
    assert (await rows(off))[0]["content"] is None
    assert (await rows(on))[0]["content"] is None
    answer = await logs(off, q="hello")
    assert answer.status == 400 and "content logging" in answer.json()["error"]["message"]


async def test_a_virtual_key_that_opts_out_has_no_content_logged(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    quiet = VIRTUAL_KEY | {"id": "vk-2", "name": "quiet", "value": VK_VALUE + "q", "disable_content_logging": True}
    governance = {"auth_config": {"admin_token": ADMIN}, "virtual_keys": [VIRTUAL_KEY, quiet]}
    gw = await make_gateway(logged(fake_upstream.url) | {"governance": governance})
    for value in (VK_VALUE + "q", VK_VALUE):
        async with gw.anthropic(api_key=value) as client:
            await client.messages.create(model="mock/m", max_tokens=10, messages=HI)
    await written(gw, 2)
    by_key = {row["virtual_key"]: row["content"] for row in await rows(gw)}
    assert by_key["quiet"] is None and "hello there" in by_key["ci-bot"]


async def test_an_error_is_logged_with_its_status_and_masked_message(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(UP_MESSAGES, Reply.error(400, "invalid_request_error", "bad tools", dialect="anthropic"))
    gw = await make_gateway(logged(fake_upstream.url))
    async with gw.anthropic() as client:
        with pytest.raises(anthropic.BadRequestError):
            await client.messages.create(model="anthropic/claude-x", max_tokens=10, messages=HI)
    await written(gw, 1)
    (row,) = await rows(gw)
    assert (row["status"], row["error"], row["provider"]) == (400, "invalid_request_error: bad tools", "anthropic")
    assert [r["id"] for r in await rows(gw, status="error")] == [row["id"]]
    assert await rows(gw, status=200) == []


async def test_a_fallback_is_logged_with_the_targets_tried(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default(UP_MESSAGES, Reply.error(503, "overloaded_error", "down", dialect="anthropic"))
    fake_upstream.default(UP_CHAT, Reply.json(openai_completion("from backup")))
    gw = await make_gateway(logged(fake_upstream.url))
    async with gw.anthropic() as client:
        await client.messages.create(
            model="anthropic/claude-x", max_tokens=10, messages=HI, extra_body={"fallbacks": ["openai/gpt-x"]}
        )
    await written(gw, 1)
    (row,) = await rows(gw)
    assert row["fallback_trail"] == ["anthropic/claude-x", "openai/gpt-x"]
    assert (row["fallback_index"], row["provider"], row["status"]) == (1, "openai", 200)


async def test_a_cache_hit_is_logged_as_one(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("cached answer")))
    gw = await make_gateway(logged(fake_upstream.url, plugins=[{"name": "semantic_cache", "config": {}}]))
    headers = {"x-bf-cache-key": "docs"}
    async with Http(gw.url) as http:
        assert (await http.post("/anthropic/v1/messages", anthropic_body(), headers)).status == 200
        await written(gw, 1)
        for _ in range(50):  # the cache stores off the request path too: bounded wait for the hit
            answer = await http.post("/anthropic/v1/messages", anthropic_body(), headers)
            assert answer.status == 200
            if answer.headers.get("x-bf-cache-hit") == "true":
                break
    await written(gw, 2)
    hits = [row for row in await rows(gw) if row["cache_hit"]]
    assert len(hits) >= 1 and hits[0]["cost_usd"] == 0.0 and hits[0]["input_tokens"] == 0
    assert json.loads(hits[0]["content"])["answer"][0]["text"] == "cached answer"
    assert len(fake_upstream.requests_to(UP_MESSAGES)) == 1


async def test_an_async_job_is_logged_with_its_id(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    gw = await make_gateway(logged(fake_upstream.url))
    async with Http(gw.url) as http:
        submitted = await http.post("/v1/async/messages", anthropic_body("mock/m"))
        assert submitted.status in (200, 202), submitted
        job_id = submitted.json()["id"]
    await written(gw, 1)
    (row,) = await rows(gw)
    assert (row["job_id"], row["route"], row["provider"]) == (job_id, "/v1/async/messages", "mock")
