"""Routing and resilience (issue 5): key choice, retry rules, fallbacks, back-pressure, timeouts, and chaos."""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any

import pytest
from multidict import CIMultiDictProxy

from gateway.testing import HI, FakeUpstream, Reply, openai_completion, openai_sse, post_once
from tests.conftest import MakeGateway

CHAT = "/v1/chat/completions"


def openai_like(url: str, keys: list[dict[str, Any]] | None = None, **network: Any) -> dict[str, Any]:
    """An OpenAI-compatible provider entry on a fake upstream."""
    return {
        "custom_provider_config": {"base_provider_type": "openai"},
        "keys": keys or [{"name": "only", "value": "sk-only"}],
        "network_config": {"base_url": url, "retry_backoff_initial": 0, "retry_backoff_max": 0, **network},
    }


def two_keys(url: str, **network: Any) -> dict[str, Any]:
    keys = [{"name": "k1", "value": "sk-one"}, {"name": "k2", "value": "sk-two"}]
    return {"providers": {"up": openai_like(url, keys, **network)}}


async def chat(
    gw_url: str, model: str = "up/m", headers: dict[str, str] | None = None, **body: Any
) -> tuple[int, Any, CIMultiDictProxy[str]]:
    """A chat call with no client key: its status, JSON body and headers."""
    answer = await post_once(gw_url + CHAT, {"model": model, "messages": HI, **body}, headers, key=None)
    return answer.status, answer.json(), answer.headers


def keys_used(fake: FakeUpstream) -> list[str]:
    return [r.headers["authorization"].removeprefix("Bearer ") for r in fake.requests_to(CHAT)]


async def test_a_5xx_is_retried_on_the_same_key(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fail = Reply.error(500, "server_error", "boom", dialect="openai")
    fake_upstream.script(CHAT, fail, fail, Reply.json(openai_completion("third time")))
    gw = await make_gateway(two_keys(fake_upstream.url, max_retries=2))
    status, body, headers = await chat(gw.url)
    assert (status, body["choices"][0]["message"]["content"]) == (200, "third time")
    assert len(set(keys_used(fake_upstream))) == 1 and len(keys_used(fake_upstream)) == 3
    assert headers["x-bf-attempts"] == "3"


async def test_a_429_moves_to_another_key_and_honours_retry_after(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    limited = Reply.error(429, "rate_limit_error", "slow down", dialect="openai", headers={"retry-after": "0.2"})
    fake_upstream.script(CHAT, limited, Reply.json(openai_completion("other key")))
    gw = await make_gateway(two_keys(fake_upstream.url, max_retries=1))
    started = time.monotonic()
    status, _, _ = await chat(gw.url)
    assert status == 200
    assert time.monotonic() - started >= 0.2
    first, second = keys_used(fake_upstream)
    assert first != second


async def test_a_refused_key_is_dead_for_the_call_and_the_next_is_tried_at_once(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    refused = Reply.error(401, "invalid_api_key", "bad key", dialect="openai")
    fake_upstream.script(CHAT, refused, Reply.json(openai_completion("good key")))
    gw = await make_gateway(two_keys(fake_upstream.url, max_retries=0, retry_backoff_initial=5000))
    started = time.monotonic()
    status, body, _ = await chat(gw.url)
    assert (status, body["choices"][0]["message"]["content"]) == (200, "good key")
    assert time.monotonic() - started < 1.0  # no backoff, and max_retries 0 does not stop a key rotation
    first, second = keys_used(fake_upstream)
    assert first != second


@pytest.mark.parametrize("status", [401, 402, 403])
async def test_when_every_key_is_refused_the_answer_is_502_naming_the_provider(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, status: int
) -> None:
    fake_upstream.default(CHAT, Reply.error(status, "invalid_api_key", "no", dialect="openai"))
    gw = await make_gateway(two_keys(fake_upstream.url))
    code, body, _ = await chat(gw.url)
    assert code == 502
    assert "'up'" in body["error"]["message"]
    assert len(fake_upstream.requests_to(CHAT)) == 2  # each key once


@pytest.mark.parametrize("status", [400, 404, 422])
async def test_client_errors_are_not_retried(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, status: int
) -> None:
    fake_upstream.default(CHAT, Reply.error(status, "invalid_request_error", "no", dialect="openai"))
    gw = await make_gateway(two_keys(fake_upstream.url, max_retries=3))
    code, _, _ = await chat(gw.url)
    assert code == status
    assert len(fake_upstream.requests_to(CHAT)) == 1


async def test_x_bf_api_key_pins_a_key(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.default(CHAT, Reply.json(openai_completion()))
    gw = await make_gateway(two_keys(fake_upstream.url))
    for _ in range(10):
        assert (await chat(gw.url, headers={"x-bf-api-key": "k2"}))[0] == 200
    assert set(keys_used(fake_upstream)) == {"sk-two"}
    code, body, _ = await chat(gw.url, headers={"x-bf-api-key": "nope"})
    assert code == 400 and "nope" in body["error"]["message"]


async def test_a_session_sticks_to_one_key(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.default(CHAT, Reply.json(openai_completion()))
    gw = await make_gateway(two_keys(fake_upstream.url))
    for _ in range(12):
        await chat(gw.url, headers={"x-bf-session-id": "s-1", "x-bf-session-ttl": "60"})
    assert len(set(keys_used(fake_upstream))) == 1
    for index in range(40):  # without a session both keys serve
        await chat(gw.url, headers={"x-bf-session-id": f"other-{index}"})
    assert set(keys_used(fake_upstream)) == {"sk-one", "sk-two"}


async def test_blacklisted_models_win_over_models(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    keys = [
        {"name": "k1", "value": "sk-one", "models": ["*"], "blacklisted_models": ["m"]},
        {"name": "k2", "value": "sk-two", "models": ["*"]},
    ]
    fake_upstream.default(CHAT, Reply.json(openai_completion()))
    gw = await make_gateway({"providers": {"up": openai_like(fake_upstream.url, keys)}})
    for _ in range(10):
        await chat(gw.url, model="up/m")
    assert set(keys_used(fake_upstream)) == {"sk-two"}


async def fallback_gateway(make_gateway: MakeGateway, primary: FakeUpstream, backup: FakeUpstream) -> str:
    config = {"providers": {"primary": openai_like(primary.url), "backup": openai_like(backup.url)}}
    return (await make_gateway(config)).url


async def test_body_fallbacks_serve_when_the_primary_fails(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    async with FakeUpstream() as backup:
        fake_upstream.default(CHAT, Reply.error(503, "server_error", "down", dialect="openai"))
        backup.script(CHAT, Reply.json(openai_completion("from backup")))
        url = await fallback_gateway(make_gateway, fake_upstream, backup)
        status, body, headers = await chat(url, model="primary/m", fallbacks=["backup/m2"])
        assert (status, body["choices"][0]["message"]["content"]) == (200, "from backup")
        assert (headers["x-bf-provider"], headers["x-bf-model"], headers["x-bf-fallback-index"]) == (
            "backup",
            "m2",
            "1",
        )
        for fake in (fake_upstream, backup):
            assert "fallbacks" not in fake.requests_to(CHAT)[0].json


async def test_anthropic_clients_use_body_fallbacks_too(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    async with FakeUpstream() as backup:
        fake_upstream.default(CHAT, Reply.error(500, "server_error", "down", dialect="openai"))
        backup.script(CHAT, Reply.json(openai_completion("from backup")))
        url = await fallback_gateway(make_gateway, fake_upstream, backup)
        body = {"model": "primary/m", "max_tokens": 10, "messages": HI, "fallbacks": ["backup/m"]}
        reply = await post_once(url + "/anthropic/v1/messages", body, key=None)
        assert reply.status == 200
        assert reply.json()["content"][0]["text"] == "from backup"


async def test_when_all_fail_the_primarys_error_is_returned(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    async with FakeUpstream() as backup:
        fake_upstream.default(CHAT, Reply.error(503, "server_error", "primary is down", dialect="openai"))
        backup.default(CHAT, Reply.error(500, "server_error", "backup is down", dialect="openai"))
        url = await fallback_gateway(make_gateway, fake_upstream, backup)
        status, body, _ = await chat(url, model="primary/m", fallbacks=["backup/m"])
        assert status == 503 and body["error"]["message"] == "primary is down"


async def test_a_bad_request_does_not_fall_back(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    async with FakeUpstream() as backup:
        fake_upstream.default(CHAT, Reply.error(400, "invalid_request_error", "bad", dialect="openai"))
        url = await fallback_gateway(make_gateway, fake_upstream, backup)
        assert (await chat(url, model="primary/m", fallbacks=["backup/m"]))[0] == 400
        assert backup.requests == []


async def test_a_stream_falls_back_before_its_first_byte(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    async with FakeUpstream() as backup:
        fake_upstream.default(CHAT, Reply.error(500, "server_error", "down", dialect="openai"))
        backup.script(CHAT, Reply.sse(openai_sse(("from ", "backup"))))
        url = await fallback_gateway(make_gateway, fake_upstream, backup)
        payload = {"model": "primary/m", "messages": HI, "stream": True, "fallbacks": ["backup/m"]}
        reply = await post_once(url + CHAT, payload, key=None)
        assert reply.status == 200 and reply.headers["x-bf-fallback-index"] == "1"
        events = reply.events()
        text = "".join(e.json()["choices"][0]["delta"].get("content") or "" for e in events[:-1] if e.json()["choices"])
        assert text == "from backup"


async def test_after_the_first_byte_a_failure_is_a_terminal_error_event(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    async with FakeUpstream() as backup:
        fake_upstream.script(CHAT, Reply.sse(openai_sse(("a", "b", "c", "d")), close_after=2))
        url = await fallback_gateway(make_gateway, fake_upstream, backup)
        payload = {"model": "primary/m", "messages": HI, "stream": True, "fallbacks": ["backup/m"]}
        events = (await post_once(url + CHAT, payload, key=None)).events()
        assert "error" in events[-1].json()
        assert backup.requests == []


@pytest.mark.parametrize("drop_excess", [True, False])
async def test_a_full_provider_buffer_is_a_429_with_retry_after(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, drop_excess: bool
) -> None:
    """One call runs, one waits in the buffer, the third is refused at once, whatever drop_excess_requests says."""
    fake_upstream.default(CHAT, Reply.json(openai_completion(), delay=0.3))
    provider = openai_like(fake_upstream.url) | {"concurrency_and_buffer_size": {"concurrency": 1, "buffer_size": 1}}
    gw = await make_gateway({"providers": {"up": provider}, "client": {"drop_excess_requests": drop_excess}})
    results = await asyncio.gather(*(chat(gw.url) for _ in range(3)))
    assert sorted(status for status, _, _ in results) == [200, 200, 429]
    refused, headers = next((body, headers) for status, body, headers in results if status == 429)
    assert refused["error"]["type"] == "rate_limit_error" and "capacity" in refused["error"]["message"]
    assert headers["retry-after"] == "1"


async def test_a_call_waits_for_a_slot_no_longer_than_the_queue_timeout(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default(CHAT, Reply.json(openai_completion(), delay=1.0))
    limits = {"concurrency": 1, "buffer_size": 10, "queue_timeout_in_seconds": 0.2}
    gw = await make_gateway(
        {"providers": {"up": openai_like(fake_upstream.url) | {"concurrency_and_buffer_size": limits}}}
    )
    started = time.monotonic()
    first, second = await asyncio.gather(chat(gw.url), chat(gw.url))
    waited = time.monotonic() - started
    assert sorted([first[0], second[0]]) == [200, 429]
    refused = first if first[0] == 429 else second
    assert "within 0.2s" in refused[1]["error"]["message"] and refused[2]["retry-after"] == "1"
    assert len(fake_upstream.requests_to(CHAT)) == 1 and waited < 1.9


async def test_a_stalled_stream_ends_with_a_timeout_event(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(CHAT, Reply.sse(openai_sse(("a", "b", "c")), hang_after=2))
    gw = await make_gateway({"providers": {"up": openai_like(fake_upstream.url, stream_idle_timeout_in_seconds=0.3)}})
    started = time.monotonic()
    events = (await post_once(gw.url + CHAT, {"model": "up/m", "messages": HI, "stream": True}, key=None)).events()
    assert time.monotonic() - started < 3
    assert events[-1].json()["error"]["type"] == "timeout_error"


async def test_a_slow_call_times_out_with_504(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(CHAT, Reply.hang())
    gw = await make_gateway(
        {"providers": {"up": openai_like(fake_upstream.url, default_request_timeout_in_seconds=0.3)}}
    )
    status, body, _ = await chat(gw.url)
    assert status == 504 and body["error"]["type"] == "timeout_error"


async def test_chaos_every_request_succeeds_through_fallbacks(make_gateway: MakeGateway) -> None:
    """Three upstreams: one fails with 500s, one throttles with 429 and retry-after, one is healthy. 500 requests
    with fallbacks configured all succeed; how many upstream attempts each took is printed."""
    async with FakeUpstream() as broken, FakeUpstream() as throttled, FakeUpstream() as healthy:
        broken.default(CHAT, Reply.error(500, "server_error", "boom", dialect="openai"))
        throttle = Reply.error(429, "rate_limit_error", "slow down", dialect="openai", headers={"retry-after": "0"})
        throttled.default(CHAT, throttle)
        healthy.default(CHAT, Reply.json(openai_completion("ok")))
        config = {
            "providers": {
                "broken": openai_like(broken.url, max_retries=1),
                "throttled": openai_like(throttled.url, max_retries=1),
                "healthy": openai_like(healthy.url),
            }
        }
        gw = await make_gateway(config)
        attempts: collections.Counter[str] = collections.Counter()
        for _ in range(10):  # 10 rounds of 50 concurrent requests
            rounds = await asyncio.gather(
                *(chat(gw.url, model="broken/m", fallbacks=["throttled/m", "healthy/m"]) for _ in range(50))
            )
            for status, body, headers in rounds:
                assert status == 200, body
                attempts[headers["x-bf-attempts"]] += 1
        print(f"\nchaos: 500 requests, all 200; upstream attempts per request: {dict(sorted(attempts.items()))}")
        assert sum(attempts.values()) == 500
        assert len(healthy.requests_to(CHAT)) == 500
