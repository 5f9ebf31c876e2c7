"""The AWS event-stream binary framing (`application/vnd.amazon.eventstream`), decoded incrementally.

One message: a 12-byte prelude (total length, headers length, CRC32 of those 8 bytes; big-endian uint32s),
the headers, the payload, and a CRC32 of everything before it. A header is a name (uint8 length + UTF-8), a type
byte and a value whose size the type gives. Socket reads cut messages anywhere, so bytes are buffered until a
whole message is there.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Iterator

from msgspec import Struct

from gateway import UpstreamError

PRELUDE = 12
CRC = 4
MAX_MESSAGE = 24 * 1024 * 1024 + 128 * 1024 + PRELUDE + CRC  # botocore's payload and header limits
HeaderValue = bool | int | bytes | str | uuid.UUID
_INTS = {2: ">b", 3: ">h", 4: ">i", 5: ">q", 8: ">q"}  # byte, short, integer, long, timestamp (ms)


class EventMessage(Struct, frozen=True):
    headers: dict[str, HeaderValue]
    payload: bytes

    def header(self, name: str) -> str:
        """A string header's value, "" when absent or not a string."""
        value = self.headers.get(name)
        return value if isinstance(value, str) else ""


class EventStreamDecoder:
    """Feed it socket reads; it yields each message as soon as its last byte has arrived."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes of an incomplete message still buffered (non-zero at EOF means a truncated stream)."""
        return len(self._buffer)

    def feed(self, data: bytes) -> Iterator[EventMessage]:
        """The messages completed by `data`; raises UpstreamError on a corrupt message (after the good ones)."""
        self._buffer += data
        while len(self._buffer) >= PRELUDE:
            total, headers_length, prelude_crc = struct.unpack_from(">III", self._buffer)
            if zlib.crc32(self._buffer[:8]) != prelude_crc:
                raise UpstreamError("upstream event stream is corrupt: prelude checksum mismatch")
            if not PRELUDE + CRC + headers_length <= total <= MAX_MESSAGE:
                raise UpstreamError(f"upstream event stream is corrupt: bad message length {total}")
            if len(self._buffer) < total:
                return
            frame = bytes(self._buffer[:total])
            del self._buffer[:total]
            yield decode_message(frame, headers_length)


def decode_message(frame: bytes, headers_length: int) -> EventMessage:
    """One whole message whose prelude checked out."""
    (message_crc,) = struct.unpack_from(">I", frame, len(frame) - CRC)
    if zlib.crc32(frame[:-CRC]) != message_crc:
        raise UpstreamError("upstream event stream is corrupt: message checksum mismatch")
    end = PRELUDE + headers_length
    return EventMessage(headers=decode_headers(frame[PRELUDE:end]), payload=frame[end:-CRC])


def decode_headers(raw: bytes) -> dict[str, HeaderValue]:
    headers: dict[str, HeaderValue] = {}
    position = 0
    try:
        while position < len(raw):
            name_length = raw[position]
            name = raw[position + 1 : position + 1 + name_length].decode()
            position += 1 + name_length
            headers[name], position = _value(raw, raw[position], position + 1)
    except (IndexError, struct.error, UnicodeDecodeError):
        raise UpstreamError("upstream event stream is corrupt: malformed headers") from None
    return headers


def _value(raw: bytes, kind: int, at: int) -> tuple[HeaderValue, int]:
    """The value of type `kind` starting at `at`, and the position after it."""
    if kind in (0, 1):  # true, false: no value bytes
        return kind == 0, at
    if kind in _INTS:
        fmt = _INTS[kind]
        return struct.unpack_from(fmt, raw, at)[0], at + struct.calcsize(fmt)
    if kind in (6, 7):  # byte array, string: uint16 length + bytes
        (length,) = struct.unpack_from(">H", raw, at)
        value = raw[at + 2 : at + 2 + length]
        if len(value) != length:
            raise IndexError("header value cut short")
        return (value.decode() if kind == 7 else value), at + 2 + length
    if kind == 9:
        value = raw[at : at + 16]
        if len(value) != 16:
            raise IndexError("uuid cut short")
        return uuid.UUID(bytes=value), at + 16
    raise IndexError(f"unknown header type {kind}")
