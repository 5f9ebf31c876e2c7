"""Upstream SSE parsing: batches per read, exact bytes kept, both APIs' frame shapes and the odd ones."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import StreamReader
from aiohttp.base_protocol import BaseProtocol

from gateway.sse import SseBatch, SseFrame, iter_batches, parse_frame


def reader_of(*reads: bytes) -> StreamReader:
    loop = asyncio.get_running_loop()
    reader = StreamReader(BaseProtocol(loop), 2**16, loop=loop)
    for data in reads:
        reader.feed_data(data)
    reader.feed_eof()
    return reader


async def batches(*reads: bytes) -> list[tuple[list[SseFrame], bytes]]:
    return [(b.frames(), b.raw) async for b in iter_batches(reader_of(*reads))]


@pytest.mark.parametrize(
    ("raw", "event", "data"),
    [
        (b'event: ping\ndata: {"type":"ping"}', "ping", b'{"type":"ping"}'),
        (b'data: {"a":1}', None, b'{"a":1}'),
        (b"data:[DONE]", None, b"[DONE]"),
        (b'data: {"type":"ping"}\nevent: ping', "ping", b'{"type":"ping"}'),
        (b": keep-alive", None, b""),
        (b"event:x\ndata: a\ndata: b", "x", b"a\nb"),
        (b"id: 7\nevent: e\ndata: d", "e", b"d"),
    ],
)
def test_parse_frame_shapes(raw: bytes, event: str | None, data: bytes) -> None:
    assert parse_frame(raw) == SseFrame(event=event, data=data, raw=raw)


async def test_one_batch_per_read_with_its_exact_bytes() -> None:
    first = b"event: a\ndata: 1\n\nevent: b\ndata: 2\n\n"
    second = b"data: 3\n\n"
    reader = reader_of()
    reader._eof = False  # reopen it: data arrives in two reads, the second after the first batch was taken
    reader.feed_data(first)
    stream = iter_batches(reader)
    one = await anext(stream)
    reader.feed_data(second)
    reader.feed_eof()
    two = await anext(stream)
    assert (one.raw, two.raw) == (first, second)
    assert [f.data for f in one.frames()] == [b"1", b"2"]


async def test_a_frame_split_across_reads_waits_for_its_end() -> None:
    got = await batches(b"event: a\nda", b"ta: 1\n", b"\nevent: b\ndata: 2\n\n")
    assert [f.event for frames, _ in got for f in frames] == ["a", "b"]
    assert b"".join(raw for _, raw in got) == b"event: a\ndata: 1\n\nevent: b\ndata: 2\n\n"


async def test_crlf_line_endings_are_normalised() -> None:
    got = await batches(b"event: a\r\ndata: 1\r\n\r\n")
    assert got == [([SseFrame(event="a", data=b"1", raw=b"event: a\ndata: 1")], b"event: a\ndata: 1\n\n")]


async def test_a_last_frame_without_blank_line_is_yielded_at_eof() -> None:
    got = await batches(b"data: 1\n\ndata: 2")
    assert [[f.data for f in frames] for frames, _ in got] == [[b"1"], [b"2"]]
    assert got[-1][1] == b"data: 2\n\n"


def test_find_frame_locates_one_event_without_parsing_the_rest() -> None:
    batch = SseBatch(raw=b'event: a\ndata: {"x":"event: b"}\n\nevent: b\ndata: 2\n\n')
    assert batch.find_frame(b"b") == SseFrame(event="b", data=b"2", raw=b"event: b\ndata: 2")
    assert batch.find_frame(b"a") == SseFrame(
        event="a", data=b'{"x":"event: b"}', raw=b'event: a\ndata: {"x":"event: b"}'
    )
    assert batch.find_frame(b"c") is None
