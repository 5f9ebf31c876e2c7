"""The AWS event-stream decoder: round trips through the test encoder, botocore agreeing with that encoder,
reads cut anywhere, and corrupt or truncated input refused."""

from __future__ import annotations

import struct
import uuid
import zlib

import pytest
from botocore.eventstream import EventStreamBuffer  # type: ignore[import-untyped]

from gateway import UpstreamError
from gateway_plugins.provider_bedrock.eventstream import EventMessage, EventStreamDecoder
from tests.fakes.bedrock import HeaderValue, Typed, converse_stream, encode_message, event

ID = uuid.UUID("12345678-1234-5678-1234-567812345678")
EVERY_TYPE: dict[str, HeaderValue] = {
    ":event-type": "contentBlockDelta",
    "yes": True,
    "no": False,
    "byte": Typed(2, -7),
    "short": Typed(3, 1234),
    "integer": Typed(4, -70000),
    "long": Typed(5, 2**40),
    "bytes": b"\x00\xffraw",
    "timestamp": Typed(8, 1_730_000_000_000),
    "uuid": ID,
}
DECODED = {
    ":event-type": "contentBlockDelta",
    "yes": True,
    "no": False,
    "byte": -7,
    "short": 1234,
    "integer": -70000,
    "long": 2**40,
    "bytes": b"\x00\xffraw",
    "timestamp": 1_730_000_000_000,
    "uuid": ID,
}


def _all(decoder: EventStreamDecoder, data: bytes) -> list[EventMessage]:
    return list(decoder.feed(data))


def test_round_trip_every_header_type() -> None:
    frame = encode_message(EVERY_TYPE, b'{"x":1}')
    [message] = _all(EventStreamDecoder(), frame)
    assert message.headers == DECODED
    assert message.payload == b'{"x":1}'
    assert message.header(":event-type") == "contentBlockDelta"
    assert message.header("integer") == ""  # not a string header
    assert message.header("absent") == ""


def test_botocore_reads_the_test_encoder_the_same_way() -> None:
    """The test encoder is checked against an independent decoder, so the round trips prove something."""
    frames = converse_stream(("Hi",))
    buffer = EventStreamBuffer()
    buffer.add_data(b"".join(frames))
    theirs = [(dict(m.headers), m.payload) for m in buffer]
    ours = [(m.headers, m.payload) for m in _all(EventStreamDecoder(), b"".join(frames))]
    assert ours == theirs
    assert len(ours) == len(frames)


def test_empty_message() -> None:
    [message] = _all(EventStreamDecoder(), encode_message({}, b""))
    assert message == EventMessage(headers={}, payload=b"")


@pytest.mark.parametrize("size", [1, 2, 5, 11, 12, 13, 64])
def test_reads_cut_anywhere_give_the_same_messages(size: int) -> None:
    data = b"".join(converse_stream(("Hel", "lo")))
    whole = _all(EventStreamDecoder(), data)
    decoder = EventStreamDecoder()
    pieces: list[EventMessage] = []
    for start in range(0, len(data), size):
        pieces += decoder.feed(data[start : start + size])
    assert pieces == whole
    assert decoder.pending == 0


def test_a_message_is_yielded_once_its_last_byte_arrives() -> None:
    frame = event("messageStart", {"role": "assistant"})
    decoder = EventStreamDecoder()
    assert _all(decoder, frame[:-1]) == []
    assert decoder.pending == len(frame) - 1
    assert len(_all(decoder, frame[-1:])) == 1
    assert decoder.pending == 0


def test_bad_prelude_crc_rejected() -> None:
    frame = bytearray(encode_message({"a": "b"}, b"x"))
    frame[8] ^= 0xFF
    with pytest.raises(UpstreamError, match="prelude checksum"):
        _all(EventStreamDecoder(), bytes(frame))


def test_bad_message_crc_rejected() -> None:
    frame = bytearray(encode_message({"a": "b"}, b"payload"))
    frame[-6] ^= 0x01  # a payload byte: only the message CRC covers it
    with pytest.raises(UpstreamError, match="message checksum"):
        _all(EventStreamDecoder(), bytes(frame))


def test_messages_before_a_corrupt_one_are_still_yielded() -> None:
    good = event("messageStart", {"role": "assistant"})
    bad = bytearray(good)
    bad[-1] ^= 0xFF
    feed = EventStreamDecoder().feed(good + bytes(bad))
    assert next(feed).header(":event-type") == "messageStart"
    with pytest.raises(UpstreamError):
        next(feed)


def _with_prelude(total: int, headers_length: int, rest: bytes) -> bytes:
    prelude = struct.pack(">II", total, headers_length)
    return prelude + struct.pack(">I", zlib.crc32(prelude)) + rest


@pytest.mark.parametrize(("total", "headers_length"), [(15, 0), (20, 10), (2**31, 0)])
def test_impossible_lengths_rejected(total: int, headers_length: int) -> None:
    with pytest.raises(UpstreamError, match="bad message length"):
        _all(EventStreamDecoder(), _with_prelude(total, headers_length, b"\x00" * 8))


@pytest.mark.parametrize(
    "headers",
    [
        b"\x05ab",  # name longer than the headers
        b"\x01a\x07\x00\x09abc",  # string value longer than the headers
        b"\x01a\x0b",  # unknown value type
        b"\x01a\x09\x00\x01",  # uuid cut short
    ],
)
def test_malformed_headers_rejected(headers: bytes) -> None:
    total = 12 + len(headers) + 4
    prelude = struct.pack(">II", total, len(headers))
    body = prelude + struct.pack(">I", zlib.crc32(prelude)) + headers
    frame = body + struct.pack(">I", zlib.crc32(body))
    with pytest.raises(UpstreamError, match="malformed headers"):
        _all(EventStreamDecoder(), frame)
