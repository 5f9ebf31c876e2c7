"""The fake upstream and wire builders behave like the real APIs, so end-to-end failures mean gateway bugs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import anthropic
import openai
import pytest

from gateway.testing import (
    FakeUpstream,
    Reply,
    ToolUse,
    anthropic_error_frame,
    anthropic_message,
    anthropic_sse,
    anthropic_usage,
    openai_completion,
    openai_sse,
    parse_sse,
)

WEATHER = ToolUse(id="toolu_1", name="get_weather", input={"city": "Paris", "units": ["c", "f"]})
LOOKUP = ToolUse(id="call_2", name="lookup", input={"q": "x" * 20})


@pytest.fixture
async def up() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_fake_queue_then_default_then_unscripted(up: FakeUpstream, http: aiohttp.ClientSession) -> None:
    up.script("/v1/x", Reply.json({"n": 1}), Reply.json({"n": 2}, status=201))
    up.default("/v1/x", Reply.json({"n": "default"}))
    seen = []
    for _ in range(4):
        async with http.post(up.url + "/v1/x") as resp:
            seen.append((resp.status, await resp.json()))
    assert seen == [(200, {"n": 1}), (201, {"n": 2}), (200, {"n": "default"}), (200, {"n": "default"})]
    assert up.pending("/v1/x") == 0
    async with http.get(up.url + "/nowhere") as resp:
        assert resp.status == 500
        assert "nothing scripted for GET /nowhere" in (await resp.json())["error"]["message"]


async def test_fake_records_requests(up: FakeUpstream, http: aiohttp.ClientSession) -> None:
    up.default("/v1/messages", Reply.json(anthropic_message()))
    headers = {"X-Api-Key": "k", "anthropic-version": "2023-06-01"}
    async with http.post(up.url + "/v1/messages?beta=true", json={"model": "m"}, headers=headers):
        pass
    async with http.post(up.url + "/v1/messages", data=b"not json"):
        pass
    first, second = up.requests_to("/v1/messages")
    assert (first.method, first.path, first.query) == ("POST", "/v1/messages", {"beta": "true"})
    assert first.headers["x-api-key"] == "k" and first.headers["Anthropic-Version"] == "2023-06-01"
    assert first.json == {"model": "m"} and json.loads(first.body) == {"model": "m"}
    assert (second.body, second.json) == (b"not json", None)
    await up.wait_requests(2, "/v1/messages")


async def test_fake_error_shapes(up: FakeUpstream, http: aiohttp.ClientSession) -> None:
    up.script(
        "/e",
        Reply.error(529, "overloaded_error", "Overloaded", dialect="anthropic", headers={"Request-Id": "r1"}),
        Reply.error(429, "rate_limit_exceeded", "Slow", dialect="openai", code="rate_limit_exceeded"),
    )
    async with http.post(up.url + "/e") as resp:
        assert resp.status == 529 and resp.headers.getall("request-id") == ["r1"]
        body = await resp.json()
        assert body["type"] == "error"
        assert body["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    async with http.post(up.url + "/e") as resp:
        assert resp.status == 429 and resp.headers["x-request-id"] == "req_fake_error"
        assert await resp.json() == {
            "error": {
                "message": "Slow",
                "type": "rate_limit_exceeded",
                "param": None,
                "code": "rate_limit_exceeded",
            }
        }


def test_anthropic_sse_event_sequence() -> None:
    frames = anthropic_sse(("Hel", "lo"), tool_uses=(WEATHER,), thinking=("hm", "m"))
    events = parse_sse(b"".join(frames))
    assert len(events) == len(frames)
    datas = [e.json() for e in events]
    assert all(isinstance(d, dict) and e.event == d["type"] for e, d in zip(events, datas, strict=True))
    types = [e.event for e in events]
    assert types[:3] == ["message_start", "content_block_start", "ping"]
    assert types[-2:] == ["message_delta", "message_stop"]
    starts = [d for d in datas if d["type"] == "content_block_start"]
    assert [s["index"] for s in starts] == [0, 1, 2]
    assert [s["content_block"]["type"] for s in starts] == ["thinking", "text", "tool_use"]
    partial = [d["delta"]["partial_json"] for d in datas if d.get("delta", {}).get("type") == "input_json_delta"]
    assert len(partial) >= 3 and partial[0] == ""
    assert json.loads("".join(partial)) == WEATHER.input
    assert datas[-2]["delta"]["stop_reason"] == "tool_use"


def test_openai_sse_chunk_sequence() -> None:
    frames = openai_sse(("Hi",), tool_calls=(WEATHER, LOOKUP), reasoning_chunks=("r",))
    assert frames[-1] == b"data: [DONE]\n\n"
    chunks = [e.json() for e in parse_sse(b"".join(frames[:-1]))]
    assert all(e.event is None for e in parse_sse(b"".join(frames)))
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 42
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    calls = [c for ch in chunks if ch["choices"] for c in ch["choices"][0]["delta"].get("tool_calls", [])]
    for index, tool in enumerate((WEATHER, LOOKUP)):
        parts = [c for c in calls if c["index"] == index]
        assert parts[0]["id"] == tool.id and parts[0]["function"]["name"] == tool.name
        assert all("id" not in p and "name" not in p["function"] for p in parts[1:]) and len(parts) > 2
        assert json.loads("".join(p["function"]["arguments"] for p in parts)) == tool.input
    inline = openai_sse(("a",), usage_in_separate_chunk=False, done=False)
    last = json.loads(inline[-1].decode().removeprefix("data: "))
    assert last["choices"][0]["finish_reason"] == "stop" and last["usage"]["prompt_tokens"] == 30


async def test_anthropic_sdk_accepts_fake_body_and_stream(up: FakeUpstream) -> None:
    usage = anthropic_usage(10, 5, cache_read_input_tokens=3)
    up.script("/v1/messages", Reply.json(anthropic_message(tool_uses=(WEATHER,), thinking="t", usage=usage)))
    up.script("/v1/messages", Reply.sse(anthropic_sse(tool_uses=(WEATHER,), thinking="t", usage=usage)))
    hi: list[anthropic.types.MessageParam] = [{"role": "user", "content": "hi"}]
    async with anthropic.AsyncAnthropic(
        base_url=up.url, api_key="k", max_retries=0, _strict_response_validation=True
    ) as client:
        plain = await client.messages.create(model="m", max_tokens=10, messages=hi)
        async with client.messages.stream(model="m", max_tokens=10, messages=hi) as stream:
            streamed = await stream.get_final_message()
    for message in (plain, streamed):
        thinking, text, tool = message.content
        assert (thinking.type, text.type) == ("thinking", "text")
        assert isinstance(tool, anthropic.types.ToolUseBlock) and tool.input == WEATHER.input
        assert message.stop_reason == "tool_use" and message.usage.cache_read_input_tokens == 3
    assert isinstance(streamed.content[1], anthropic.types.TextBlock) and streamed.content[1].text == "Hello"
    assert up.requests_to("/v1/messages")[1].json["stream"] is True


async def test_openai_sdk_accepts_fake_body_and_stream(up: FakeUpstream) -> None:
    up.script("/v1/chat/completions", Reply.json(openai_completion(tool_calls=(LOOKUP,))))
    up.script("/v1/chat/completions", Reply.sse(openai_sse(tool_calls=(LOOKUP,))))
    hi: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
    async with openai.AsyncOpenAI(base_url=up.url + "/v1", api_key="k", max_retries=0) as client:
        plain = await client.chat.completions.create(model="m", messages=hi)
        async with client.chat.completions.stream(model="m", messages=hi) as stream:
            streamed = await stream.get_final_completion()
    assert streamed.choices[0].message.role == "assistant"
    for completion in (plain, streamed):
        (call,) = completion.choices[0].message.tool_calls or []
        assert call.type == "function" and json.loads(call.function.arguments) == LOOKUP.input


async def test_anthropic_error_frame_raises_in_sdk(up: FakeUpstream) -> None:
    frames = [*anthropic_sse()[:3], anthropic_error_frame("overloaded_error", "Overloaded")]
    up.script("/v1/messages", Reply.sse(frames))
    async with anthropic.AsyncAnthropic(base_url=up.url, api_key="k", max_retries=0) as client:
        with pytest.raises(anthropic.APIStatusError, match="Overloaded"):
            async with client.messages.stream(model="m", max_tokens=5, messages=[]) as stream:
                await stream.get_final_message()


async def test_sse_frames_arrive_separately(up: FakeUpstream, http: aiohttp.ClientSession) -> None:
    frames = anthropic_sse()
    up.script("/s", Reply.sse(frames, delay=0.05))
    async with http.post(up.url + "/s") as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        first = await resp.content.readuntil(b"\n\n")
        assert first == frames[0]  # the first frame is flushed before the delayed rest is written
        rest = await resp.read()
    assert first + rest == b"".join(frames)
    assert up.closed_streams == 0


async def test_sse_close_after_drops_connection(up: FakeUpstream, http: aiohttp.ClientSession) -> None:
    frames = openai_sse(("a", "b", "c"))
    up.script("/s", Reply.sse(frames, close_after=2))
    async with http.post(up.url + "/s") as resp:
        received = b""
        with pytest.raises(aiohttp.ClientPayloadError):
            async for chunk in resp.content.iter_any():
                received += chunk
    assert received == b"".join(frames[:2])
    assert (up.closed_streams, up.disconnects) == (0, 0)


async def test_sse_hang_after_stalls_and_counts_client_leaving(up: FakeUpstream, http: aiohttp.ClientSession) -> None:
    frames = anthropic_sse()
    up.script("/s", Reply.sse(frames, hang_after=1))
    async with http.post(up.url + "/s") as resp:
        assert await resp.content.readuntil(b"\n\n") == frames[0]
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await resp.content.readuntil(b"\n\n")
        resp.close()  # the client gives up: the stalled stream must be counted as closed
    await up.wait_closed_streams(1)
    assert up.disconnects == 1


async def test_closed_streams_counts_client_disconnect_mid_stream(
    up: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    up.script("/s", Reply.sse([b"data: x\n\n"] * 50, delay=0.02))
    async with http.post(up.url + "/s") as resp:
        await resp.content.readuntil(b"\n\n")
        resp.close()
    await up.wait_closed_streams(1)


async def test_hang_and_drop(up: FakeUpstream, http: aiohttp.ClientSession) -> None:
    up.script("/h", Reply.hang(), Reply.drop(), Reply.json({}, delay=0.05))
    with pytest.raises(TimeoutError):
        async with http.post(up.url + "/h", timeout=aiohttp.ClientTimeout(total=0.2)):
            pass
    await up.wait_disconnects(1)
    assert up.closed_streams == 0  # not a streaming reply
    with pytest.raises(aiohttp.ServerDisconnectedError):
        async with http.post(up.url + "/h"):
            pass
    async with http.post(up.url + "/h") as resp:
        assert resp.status == 200
    assert up.disconnects == 1


async def test_close_releases_hanging_requests_promptly(http: aiohttp.ClientSession) -> None:
    fake = FakeUpstream()
    await fake.start()
    fake.script("/h", Reply.hang())
    pending = asyncio.create_task(http.post(fake.url + "/h"))
    await fake.wait_requests(1)
    async with asyncio.timeout(1.0):  # shutdown would wait its full grace period if the hang held on
        await fake.close()
    with pytest.raises(aiohttp.ClientError):
        await pending
    assert fake.disconnects == 0
