"""What slow, greedy or hostile peers cannot do: decompression bombs, slowloris clients, too many connections,
slow bodies, keep-alive-only or endless upstream streams, and a provider queue that grows without bound."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
import zlib
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest

from gateway.testing import HI, FakeUpstream, Reply, anthropic_frame, openai_completion, openai_frame, parse_sse
from tests.conftest import MakeGateway
from tests.http.async_helpers import free_port, reap, spawn_gateway, wait_healthy
from tests.http.openai_helpers import USER_HI

CHAT = "/v1/chat/completions"
MESSAGES = "/anthropic/v1/messages"
MOCK_BODY = {"model": "mock/m", "messages": HI}


def gzip_bomb(inflated_mb: int) -> bytes:
    """`inflated_mb` MB of zeros, gzipped (about a thousandth of that), built without holding it inflated."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    parts = [deflater.compress(zeros) for _ in range(inflated_mb)]
    return b"".join([*parts, deflater.flush()])


def peak_rss_mb(pid: int) -> float:
    """The process's high-water mark of resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


async def post(session: aiohttp.ClientSession, url: str, data: bytes, **headers: str) -> tuple[int, Any]:
    sent = {"content-type": "application/json", **headers}
    async with session.post(url + CHAT, data=data, headers=sent) as resp:
        return resp.status, json.loads(await resp.read())


async def test_decompression_bombs_are_refused_without_the_memory_or_a_stalled_loop(tmp_path: Path) -> None:
    """Four 2 GB gzip bombs at once against `gateway serve` (limit 16 MB): each a 413, the process's peak memory
    grows by little more than two limits (two inflations at a time), and /health answers throughout."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"providers": {"mock": {}}, "client": {"max_request_body_size_mb": 16}}))
    port, log = free_port(), tmp_path / "gateway.log"
    url = f"http://127.0.0.1:{port}"
    procs = [spawn_gateway(config, port, tmp_path / "app", log)]
    try:
        await wait_healthy(procs[0], url, log)
        bomb = gzip_bomb(2048)
        before = peak_rss_mb(procs[0].pid)
        async with aiohttp.ClientSession() as session:
            health_waits: list[float] = []

            async def watch_health() -> None:
                for _ in range(40):
                    started = time.monotonic()
                    async with session.get(url + "/health") as resp:
                        assert resp.status == 200
                    health_waits.append(time.monotonic() - started)
                    await asyncio.sleep(0.01)

            bombs = [post(session, url, bomb, **{"content-encoding": "gzip"}) for _ in range(4)]
            answers, _ = await asyncio.gather(asyncio.gather(*bombs), watch_health())
            ok = await post(session, url, gzip.compress(json.dumps(MOCK_BODY).encode()), **{"content-encoding": "gzip"})
        grown = peak_rss_mb(procs[0].pid) - before
    finally:
        reap(procs)
    for status, body in answers:
        assert status == 413 and body["error"]["code"] == "request_too_large", body
    assert ok[0] == 200, ok  # an honest gzip body is inflated and served
    assert grown < 3 * 16 + 24, f"peak memory grew {grown:.0f} MB"
    assert max(health_waits) < 1.0, health_waits


@pytest.mark.parametrize(("encoding", "status"), [("br", 415), ("gzip", 400), ("deflate", 400), ("identity", 200)])
async def test_content_encodings_we_do_not_read_or_that_lie_are_4xx(
    make_gateway: MakeGateway, encoding: str, status: int
) -> None:
    gw = await make_gateway({"providers": {"mock": {}}})
    async with aiohttp.ClientSession() as session:
        answer, _ = await post(session, gw.url, json.dumps(MOCK_BODY).encode(), **{"content-encoding": encoding})
    assert answer == status


async def test_slowloris_connections_are_closed_at_the_header_deadline(make_gateway: MakeGateway) -> None:
    """100 clients that send a request head a byte at a time are cut off after header_timeout_in_seconds, while
    an ordinary client is served meanwhile."""
    gw = await make_gateway({"providers": {"mock": {}}, "client": {"header_timeout_in_seconds": 0.5}})
    host, port = "127.0.0.1", int(gw.url.rsplit(":", 1)[1])
    head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"

    async def slow_client() -> float:
        reader, writer = await asyncio.open_connection(host, port)
        started = time.monotonic()
        try:
            for byte in head:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.05)
        except ConnectionError:
            pass
        try:
            assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the gateway, no answer
        except ConnectionError:
            pass  # ... noticed by our last write
        writer.close()
        return time.monotonic() - started

    slow = [asyncio.create_task(slow_client()) for _ in range(100)]
    await asyncio.sleep(0.2)
    async with aiohttp.ClientSession() as session:
        assert (await post(session, gw.url, json.dumps(MOCK_BODY).encode()))[0] == 200
    held = await asyncio.gather(*slow)
    assert all(0.4 < seconds < 3.0 for seconds in held), held


async def test_a_stream_outlives_the_header_deadline(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    frames = [openai_frame({"choices": [{"index": 0, "delta": {"content": "x"}}]})] * 8 + [b"data: [DONE]\n\n"]
    fake_upstream.script(CHAT, Reply.sse(frames, delay=0.2))
    provider = {"keys": [{"value": "k"}], "network_config": {"base_url": fake_upstream.url}}
    gw = await make_gateway({"providers": {"openai": provider}, "client": {"header_timeout_in_seconds": 0.3}})
    async with aiohttp.ClientSession() as session:
        body = {"model": "openai/m", "messages": HI, "stream": True}
        async with session.post(gw.url + CHAT, json=body) as resp:
            raw = await resp.read()
    assert raw.count(b'"content":"x"') == 8 and raw.endswith(b"data: [DONE]\n\n")


async def test_connections_beyond_the_cap_get_a_503_and_room_comes_back(make_gateway: MakeGateway) -> None:
    gw = await make_gateway({"providers": {"mock": {}}, "client": {"max_connections": 20}})
    host, port = "127.0.0.1", int(gw.url.rsplit(":", 1)[1])
    held = [await asyncio.open_connection(host, port) for _ in range(20)]
    await asyncio.sleep(0.05)
    async with openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key="k", max_retries=0) as client:
        with pytest.raises(openai.InternalServerError) as refused:
            await client.chat.completions.create(model="mock/m", messages=USER_HI)
        assert refused.value.status_code == 503 and refused.value.response.headers["retry-after"] == "1"
        assert "too many open connections" in str(refused.value)
        for _, writer in held[:5]:
            writer.close()
        await asyncio.sleep(0.1)
        completion = await client.chat.completions.create(model="mock/m", messages=USER_HI)
        assert completion.choices[0].message.content
    for _, writer in held[5:]:
        writer.close()


async def test_a_body_that_trickles_in_times_out_with_408(make_gateway: MakeGateway) -> None:
    gw = await make_gateway({"providers": {"mock": {}}, "client": {"body_timeout_in_seconds": 0.3}})
    reader, writer = await asyncio.open_connection("127.0.0.1", int(gw.url.rsplit(":", 1)[1]))
    writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
    writer.write(b"Content-Length: 1000\r\n\r\n{")
    await writer.drain()
    started = time.monotonic()
    answer = await asyncio.wait_for(reader.read(4096), 5)  # the answer, with Connection: close
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408") and b"Connection: close" in answer, answer[:300]
    assert b'"timeout_error"' in answer and time.monotonic() - started < 3


PING_ANTHROPIC = anthropic_frame("ping", {"type": "ping"})
PING_COMMENT = b": keep-alive\n\n"


@pytest.mark.parametrize(
    ("provider", "path", "route", "ping"),
    [
        ("anthropic", "/v1/messages", MESSAGES, PING_ANTHROPIC),
        ("openai", "/v1/chat/completions", CHAT, PING_COMMENT),
    ],
)
async def test_a_stream_of_keep_alives_only_ends_at_the_silence_limit(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, provider: str, path: str, route: str, ping: bytes
) -> None:
    fake_upstream.script(path, Reply.sse([ping] * 200, delay=0.05))  # 10 s of pings, never a word
    network = {"base_url": fake_upstream.url, "stream_idle_timeout_in_seconds": 0.5}
    gw = await make_gateway({"providers": {provider: {"keys": [{"value": "k"}], "network_config": network}}})
    body = {"model": f"{provider}/m", "max_tokens": 5, "messages": HI, "stream": True}
    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        async with session.post(gw.url + route, json=body) as resp:
            events = parse_sse(await resp.read())
    assert time.monotonic() - started < 3.0  # the pings went on for 10 s
    error = events[-1].json()
    assert "keep-alives do not count" in str(error) and "timeout_error" in str(error), events[-3:]
    await fake_upstream.wait_closed_streams(1)  # and the upstream stream is closed


async def test_an_endless_stream_ends_at_the_total_deadline(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    words = [openai_frame({"choices": [{"index": 0, "delta": {"content": "w "}}]})] * 400
    fake_upstream.script(CHAT, Reply.sse(words, delay=0.01))  # content every 10 ms, for 4 s
    network = {"base_url": fake_upstream.url, "stream_max_duration_in_seconds": 0.8}
    gw = await make_gateway({"providers": {"openai": {"keys": [{"value": "k"}], "network_config": network}}})
    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        body = {"model": "openai/m", "messages": HI, "stream": True}
        async with session.post(gw.url + CHAT, json=body) as resp:
            raw = await resp.read()
    assert 0.7 < time.monotonic() - started < 3.0  # the words went on for 4 s
    assert b"ran longer than 0.8s in all" in raw and raw.count(b'"w "') > 10


async def test_a_provider_queue_is_bounded_in_size_and_time(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    """200 callers at one provider with 2 slots and 10 places: 12 are served, the other 188 are refused at once
    with 429 and retry-after."""
    fake_upstream.default(CHAT, Reply.json(openai_completion("ok"), delay=0.2))
    limits = {"concurrency": 2, "buffer_size": 10, "queue_timeout_in_seconds": 5}
    provider = {"keys": [{"value": "k"}], "network_config": {"base_url": fake_upstream.url}}
    gw = await make_gateway({"providers": {"openai": provider | {"concurrency_and_buffer_size": limits}}})

    async def call(session: aiohttp.ClientSession) -> tuple[int, float, str | None]:
        started = time.monotonic()
        async with session.post(gw.url + CHAT, json={"model": "openai/m", "messages": HI}) as resp:
            await resp.read()
            return resp.status, time.monotonic() - started, resp.headers.get("retry-after")

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        results = await asyncio.gather(*(call(session) for _ in range(200)))
    served = [r for r in results if r[0] == 200]
    refused = [r for r in results if r[0] == 429]
    assert len(served) == 12 and len(refused) == 188, sorted({r[0] for r in results})
    # Refused at once, not after waiting out the 5 s queue timeout; the served ones took 6 turns of 0.2 s.
    assert all(seconds < 1.5 and retry == "1" for _, seconds, retry in refused), max(r[1] for r in refused)
    assert max(seconds for _, seconds, _ in served) < 4.0
