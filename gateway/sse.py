"""Reading upstream Server-Sent Events frame by frame, keeping each frame's exact bytes for relaying."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import StreamReader
from msgspec import Struct

_DATA = b"data:"
_EVENT = b"event:"


class SseFrame(Struct, frozen=True):
    event: str | None
    data: bytes  # the data lines joined with "\n", without the "data:" prefixes
    raw: bytes  # the frame exactly as received, ending in the blank line


async def iter_frames(reader: StreamReader) -> AsyncIterator[SseFrame]:
    """Yield complete frames; a final frame without its blank line (EOF) is still yielded."""
    lines: list[bytes] = []
    async for line in reader:
        if line in (b"\n", b"\r\n", b"\r"):
            if lines:
                yield _frame(lines, line)
                lines = []
            continue
        lines.append(line)
    if lines:
        yield _frame(lines, b"\n")


def _frame(lines: list[bytes], terminator: bytes) -> SseFrame:
    event: str | None = None
    data: list[bytes] = []
    for line in lines:
        if line.startswith(_DATA):
            data.append(_value(line, len(_DATA)))
        elif line.startswith(_EVENT):
            event = _value(line, len(_EVENT)).decode()
    raw = b"".join(lines) + terminator
    if not raw.endswith(b"\n\n") and not raw.endswith(b"\r\n\r\n"):
        raw = raw.rstrip(b"\r\n") + b"\n\n"
    return SseFrame(event=event, data=b"\n".join(data), raw=raw)


def _value(line: bytes, start: int) -> bytes:
    value = line[start:].rstrip(b"\r\n")
    return value[1:] if value.startswith(b" ") else value
