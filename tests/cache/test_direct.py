"""The response cache's direct mode, end to end with the official SDKs: a repeated request is answered from the
cache (skipping routing and the provider) in either dialect, stream or not, and only when it should be."""

from __future__ import annotations

import asyncio

import pytest
from anthropic.types import MessageParam

from gateway.testing import (
    FakeUpstream,
    Reply,
    anthropic_message,
    anthropic_sse,
    anthropic_usage,
    assert_anthropic_error,
    assert_openai_error,
    openai_completion,
    openai_sse,
)
from gateway_plugins.semantic_cache import RUNTIME
from tests.conftest import MakeGateway

from .helpers import CLAUDE, GPT, KEY, UP_CHAT, UP_MESSAGES, ask_claude, ask_gpt, cache_config, stored

HI: list[MessageParam] = [{"role": "user", "content": "hi"}]
USAGE = anthropic_usage(11, 7, cache_read_input_tokens=3)


async def test_repeat_is_a_direct_hit_with_the_cached_usage(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(UP_MESSAGES, Reply.json(anthropic_message("cached answer", usage=USAGE)))
    gw = await make_gateway(cache_config(fake_upstream.url))
    async with gw.anthropic(default_headers=KEY) as client:
        first = await client.messages.with_raw_response.create(model=CLAUDE, max_tokens=32, messages=HI)
        await stored(gw, 1)
        second = await client.messages.with_raw_response.create(model=CLAUDE, max_tokens=32, messages=HI)
    assert "x-bf-cache-hit" not in first.headers
    assert second.headers["x-bf-cache-hit"] == "direct"
    assert len(second.headers["x-bf-cache-id"]) == 74
    assert "x-bf-provider" not in second.headers  # routing and the provider were skipped
    message = await second.parse()
    assert message.content[0].text == "cached answer"  # type: ignore[union-attr]
    assert (message.usage.input_tokens, message.usage.output_tokens) == (11, 7)
    assert message.usage.cache_read_input_tokens == 3
    assert len(fake_upstream.requests_to(UP_MESSAGES)) == 1


async def test_no_cache_key_no_caching(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("fresh")))
    gw = await make_gateway(cache_config(fake_upstream.url))
    async with gw.anthropic() as client:
        for _ in range(2):
            raw = await client.messages.with_raw_response.create(model=CLAUDE, max_tokens=32, messages=HI)
            assert "x-bf-cache-hit" not in raw.headers
    assert len(fake_upstream.requests_to(UP_MESSAGES)) == 2
    await asyncio.sleep(0.05)  # observers run just after the answer: none stored anything
    assert gw.app[RUNTIME].store.writes == 0


async def test_default_cache_key_engages_without_the_header(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("fresh")))
    gw = await make_gateway(cache_config(fake_upstream.url, default_cache_key="everyone"))
    async with gw.anthropic() as client:
        await client.messages.create(model=CLAUDE, max_tokens=32, messages=HI)
        await stored(gw, 1)
        raw = await client.messages.with_raw_response.create(model=CLAUDE, max_tokens=32, messages=HI)
    assert raw.headers["x-bf-cache-hit"] == "direct"
    assert len(fake_upstream.requests_to(UP_MESSAGES)) == 1


async def test_what_differs_is_a_miss(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    """Another prompt, model, sampling parameter or cache key is another entry; `stream` is not part of the key."""
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("fresh")))
    gw = await make_gateway(cache_config(fake_upstream.url))
    async with gw.http() as http:
        assert (await ask_claude(http, "hi")).status == 200
        await stored(gw, 1)
        misses = [
            await ask_claude(http, "hello"),
            await ask_claude(http, "hi", temperature=0.5),
            await ask_claude(http, "hi", model="claude-y"),
            await ask_claude(http, "hi", headers={"x-bf-cache-key": "other-team"}),
            await ask_claude(http, "hi", system="be brief"),
        ]
        hit = await ask_claude(http, "hi")
    assert [m.headers.get("x-bf-cache-hit") for m in misses] == [None] * 5
    assert hit.headers["x-bf-cache-hit"] == "direct"
    assert len(fake_upstream.requests_to(UP_MESSAGES)) == 6


async def test_stream_replayed_from_a_non_stream_entry(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(UP_MESSAGES, Reply.json(anthropic_message("whole answer", usage=USAGE)))
    gw = await make_gateway(cache_config(fake_upstream.url))
    async with gw.anthropic(default_headers=KEY) as client:
        await client.messages.create(model=CLAUDE, max_tokens=32, messages=HI)
        await stored(gw, 1)
        async with client.messages.stream(model=CLAUDE, max_tokens=32, messages=HI) as stream:
            events = [event.type async for event in stream]
            message = await stream.get_final_message()
    assert events[0] == "message_start" and events[-1] == "message_stop"
    assert message.content[0].text == "whole answer"  # type: ignore[union-attr]
    assert (message.usage.input_tokens, message.usage.output_tokens) == (11, 7)
    assert message.stop_reason == "end_turn"
    assert len(fake_upstream.requests_to(UP_MESSAGES)) == 1


async def test_relayed_stream_stored_and_served_whole(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    """An Anthropic stream to an Anthropic client (normally relayed as bytes) is assembled and stored once it
    ends cleanly; the next request, not streaming, gets the whole answer."""
    fake_upstream.script(UP_MESSAGES, Reply.sse(anthropic_sse(("str", "eamed"), usage=USAGE)))
    gw = await make_gateway(cache_config(fake_upstream.url))
    async with gw.anthropic(default_headers=KEY) as client:
        async with client.messages.stream(model=CLAUDE, max_tokens=32, messages=HI) as stream:
            assert (await stream.get_final_text()) == "streamed"
        await stored(gw, 1)
        raw = await client.messages.with_raw_response.create(model=CLAUDE, max_tokens=32, messages=HI)
    message = await raw.parse()
    assert raw.headers["x-bf-cache-hit"] == "direct"
    assert message.content[0].text == "streamed"  # type: ignore[union-attr]
    assert (message.usage.input_tokens, message.usage.output_tokens) == (11, 7)


async def test_openai_client_stream_and_not(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(UP_CHAT, Reply.sse(openai_sse(("from ", "stream"))))
    gw = await make_gateway(cache_config(fake_upstream.url))
    async with gw.openai(default_headers=KEY) as client:
        stream = await client.chat.completions.create(
            model=GPT, messages=[{"role": "user", "content": "hi"}], stream=True
        )
        first = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        await stored(gw, 1)
        raw = await client.chat.completions.with_raw_response.create(
            model=GPT, messages=[{"role": "user", "content": "hi"}]
        )
        replay = await client.chat.completions.create(
            model=GPT, messages=[{"role": "user", "content": "hi"}], stream=True
        )
        again = "".join([c.choices[0].delta.content or "" async for c in replay if c.choices])
    completion = raw.parse()
    assert first == again == completion.choices[0].message.content == "from stream"
    assert raw.headers["x-bf-cache-hit"] == "direct"
    assert completion.choices[0].finish_reason == "stop"
    assert len(fake_upstream.requests_to(UP_CHAT)) == 1


async def test_no_store_reads_but_does_not_write(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("fresh")))
    gw = await make_gateway(cache_config(fake_upstream.url))
    no_store = {"x-bf-cache-no-store": "true"}
    async with gw.http() as http:
        await ask_claude(http, headers=no_store)
        await ask_claude(http)  # stores
        await stored(gw, 1)
        hit = await ask_claude(http, headers=no_store)  # reads
    assert hit.headers["x-bf-cache-hit"] == "direct"
    assert len(fake_upstream.requests_to(UP_MESSAGES)) == 2
    await asyncio.sleep(0.05)
    assert gw.app[RUNTIME].store.writes == 1


async def test_ttl_header_expires_the_entry(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("fresh")))
    gw = await make_gateway(cache_config(fake_upstream.url, ttl="1h"))
    async with gw.http() as http:
        await ask_claude(http, headers={"x-bf-cache-ttl": "300ms"})
        await stored(gw, 1)
        hit = await ask_claude(http)
        await asyncio.sleep(0.4)
        expired = await ask_claude(http)
    assert hit.headers["x-bf-cache-hit"] == "direct"
    assert "x-bf-cache-hit" not in expired.headers
    assert len(fake_upstream.requests_to(UP_MESSAGES)) == 2


@pytest.mark.parametrize(
    ("stop_reason", "reply"),
    [
        ("max_tokens", Reply.json(anthropic_message("cut", stop_reason="max_tokens"))),
        ("refusal", Reply.json(anthropic_message("no", stop_reason="refusal"))),
        ("error", Reply.error(529, "overloaded_error", "busy", dialect="anthropic")),
    ],
)
async def test_unfinished_answers_and_errors_are_not_stored(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, stop_reason: str, reply: Reply
) -> None:
    fake_upstream.script(UP_MESSAGES, reply, Reply.json(anthropic_message("second")))
    gw = await make_gateway(cache_config(fake_upstream.url))
    async with gw.http() as http:
        await ask_claude(http)
        second = await ask_claude(http)
    assert second.status == 200 and "x-bf-cache-hit" not in second.headers, stop_reason
    assert second.json()["content"][0]["text"] == "second"


async def test_long_conversations_are_not_cached(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("fresh")))
    gw = await make_gateway(cache_config(fake_upstream.url, conversation_history_threshold=1))
    turns = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
    ]
    async with gw.http() as http:
        for _ in range(2):
            answer = await ask_claude(http, messages=turns)
            assert "x-bf-cache-hit" not in answer.headers
    assert len(fake_upstream.requests_to(UP_MESSAGES)) == 2


async def test_bad_cache_headers_are_400s_naming_them(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    gw = await make_gateway(cache_config(fake_upstream.url))
    async with gw.http() as http:
        ttl = await ask_claude(http, headers={"x-bf-cache-ttl": "soon"})
        threshold = await ask_gpt(http, headers={"x-bf-cache-threshold": "2"})
        kind = await ask_gpt(http, headers={"x-bf-cache-type": "fuzzy"})
        no_store = await ask_claude(http, headers={"x-bf-cache-no-store": "maybe"})
    assert_anthropic_error(ttl, 400, "invalid_request_error", "x-bf-cache-ttl", "soon")
    assert_openai_error(threshold, 400, "invalid_request_error", "x-bf-cache-threshold")
    assert_openai_error(kind, 400, "invalid_request_error", "x-bf-cache-type")
    assert_anthropic_error(no_store, 400, "invalid_request_error", "x-bf-cache-no-store")
    assert fake_upstream.requests_to(UP_MESSAGES) == [] and fake_upstream.requests_to(UP_CHAT) == []


async def test_unlisted_plugin_caches_nothing(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.default(UP_CHAT, Reply.json(openai_completion("fresh")))
    gw = await make_gateway({**cache_config(fake_upstream.url), "plugins": []})
    async with gw.http() as http:
        for _ in range(2):
            answer = await ask_gpt(http, headers={"x-bf-cache-ttl": "soon"})  # not even read
            assert answer.status == 200 and "x-bf-cache-hit" not in answer.headers
    assert len(fake_upstream.requests_to(UP_CHAT)) == 2


async def test_a_stream_cut_short_is_not_stored(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    frames = anthropic_sse(("never ", "finished"))
    fake_upstream.script(UP_MESSAGES, Reply.sse(frames, close_after=4), Reply.json(anthropic_message("whole")))
    gw = await make_gateway(cache_config(fake_upstream.url))
    async with gw.http() as http:
        cut = await ask_claude(http, stream=True)
        await asyncio.sleep(0.05)  # the observers have run
        second = await ask_claude(http)
    assert b"message_stop" not in cut.body
    assert "x-bf-cache-hit" not in second.headers
    assert second.json()["content"][0]["text"] == "whole"
    assert gw.app[RUNTIME].store.writes == 1  # the second, complete answer only


async def test_a_streamed_hit_carries_the_hit_headers(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(UP_CHAT, Reply.json(openai_completion("once")))
    gw = await make_gateway(cache_config(fake_upstream.url))
    async with gw.http() as http:
        await ask_gpt(http)
        await stored(gw, 1)
        hit = await ask_gpt(http, stream=True, stream_options={"include_usage": True})
    assert hit.status == 200
    assert hit.headers["x-bf-cache-hit"] == "direct"
    assert hit.headers["content-type"].startswith("text/event-stream")
    chunks = hit.chunks()
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == "once"
    assert chunks[-1]["usage"]["completion_tokens"] > 0
    assert hit.body.rstrip().endswith(b"data: [DONE]")
