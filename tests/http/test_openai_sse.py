"""SSE toward OpenAI clients: headers, frames flushed as they come, and disconnects reaching the upstream."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from gateway.testing import FakeUpstream, Reply, anthropic_sse, openai_sse
from tests.conftest import CLIENT_KEY, Gateway
from tests.http.openai_helpers import USER_HI

CHAT = "/v1/chat/completions"
DELAY = 0.15  # seconds between upstream frames
# model -> (upstream path, frames): both kinds of upstream behind the OpenAI route
UPSTREAMS = {
    "anthropic/claude-x": ("/v1/messages", anthropic_sse(("a", "b"), ping=False)),
    "openai/gpt-x": ("/v1/chat/completions", openai_sse(("a", "b", "c"))),
}


@pytest.mark.parametrize("model", list(UPSTREAMS))
async def test_sse_content_type_and_headers(gateway: Gateway, fake_upstream: FakeUpstream, model: str) -> None:
    path, frames = UPSTREAMS[model]
    fake_upstream.script(path, Reply.sse(frames))
    async with gateway.openai() as client:
        async with client.chat.completions.with_streaming_response.create(
            model=model, messages=USER_HI, stream=True
        ) as response:
            body = await response.read()
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-request-id"]
    assert response.headers.get("content-encoding") is None
    assert body.rstrip().endswith(b"data: [DONE]")


@pytest.mark.parametrize("model", list(UPSTREAMS))
async def test_sse_first_chunk_arrives_before_upstream_finishes(
    gateway: Gateway, fake_upstream: FakeUpstream, model: str
) -> None:
    path, frames = UPSTREAMS[model]
    fake_upstream.script(path, Reply.sse(frames, delay=DELAY))
    upstream_duration = DELAY * (len(frames) - 1)
    async with gateway.openai() as client:
        start = time.monotonic()
        stream = await client.chat.completions.create(model=model, messages=USER_HI, stream=True)
        arrivals = []
        async for _chunk in stream:
            arrivals.append(time.monotonic() - start)
        ended = time.monotonic() - start
    assert len(arrivals) >= 3
    assert ended >= upstream_duration * 0.9
    assert arrivals[0] < upstream_duration / 3, arrivals
    # chunks are spread over the stream, not delivered in one burst at the end
    assert arrivals[-1] - arrivals[0] >= upstream_duration * 0.4, arrivals


async def test_sse_raw_bytes_arrive_incrementally(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    frames = anthropic_sse(("x", "y", "z"), ping=False)
    fake_upstream.script("/v1/messages", Reply.sse(frames, delay=DELAY))
    body = {"model": "anthropic/claude-x", "messages": USER_HI, "stream": True}
    async with aiohttp.ClientSession() as session:
        start = time.monotonic()
        async with session.post(
            gateway.url + CHAT, json=body, headers={"Authorization": f"Bearer {CLIENT_KEY}"}
        ) as resp:
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            first_line = await resp.content.readline()
            first_at = time.monotonic() - start
            rest = await resp.read()
            end_at = time.monotonic() - start
    assert first_line.startswith(b"data: {")
    assert first_at < DELAY * 2
    assert end_at - first_at >= DELAY * (len(frames) - 1) * 0.6
    assert rest.rstrip().endswith(b"data: [DONE]")


@pytest.mark.parametrize("model", list(UPSTREAMS))
async def test_sse_client_disconnect_closes_upstream(gateway: Gateway, fake_upstream: FakeUpstream, model: str) -> None:
    path, frames = UPSTREAMS[model]
    fake_upstream.script(path, Reply.sse(frames, hang_after=3))
    async with gateway.openai() as client:
        stream = await client.chat.completions.create(model=model, messages=USER_HI, stream=True)
        async for _chunk in stream:
            break
        await stream.close()
    await fake_upstream.wait_closed_streams(1)
    assert fake_upstream.closed_streams == 1


async def test_sse_client_disconnect_raw_closes_upstream(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script("/v1/messages", Reply.sse(anthropic_sse(("a", "b")), hang_after=4))
    body = {"model": "anthropic/claude-x", "messages": USER_HI, "stream": True}
    async with aiohttp.ClientSession() as session:
        resp = await session.post(gateway.url + CHAT, json=body)
        assert (await resp.content.readline()).startswith(b"data: ")
        resp.close()  # drop the connection without reading to the end
    await asyncio.wait_for(fake_upstream.wait_closed_streams(1), 5)
    assert fake_upstream.closed_streams == 1
