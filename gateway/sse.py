"""Reading upstream Server-Sent Events, keeping each frame's exact bytes for relaying.

Frames are yielded in batches: everything one socket read delivered. Relaying a batch in one write (rather than
one write per frame) is what keeps a streaming relay as cheap as a plain proxy: a fast upstream delivers many
frames per read, and each write is a syscall.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import StreamReader
from msgspec import Struct

_DATA = b"data:"
_EVENT = b"event:"
_END = b"\n\n"


class SseFrame(Struct, frozen=True):
    event: str | None
    data: bytes  # the data lines joined with "\n", without the "data:" prefixes
    raw: bytes  # the frame exactly as received (line endings normalised to "\n"), ending in a blank line


async def iter_batches(reader: StreamReader) -> AsyncIterator[list[SseFrame]]:
    """Yield the complete frames of each read; a last frame cut off by EOF is still yielded."""
    pending = b""
    while True:
        data = await reader.readany()
        if not data:
            break
        if b"\r" in data:  # rare: servers that end lines with \r\n
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        pending += data
        end = pending.rfind(_END)
        if end < 0:
            continue
        frames = [parse_frame(raw + _END) for raw in pending[:end].split(_END) if raw.strip(b"\n")]
        pending = pending[end + 2 :]
        if frames:
            yield frames
    if pending.strip(b"\n"):
        yield [parse_frame(pending.rstrip(b"\n") + _END)]


def parse_frame(raw: bytes) -> SseFrame:
    event: str | None = None
    data: list[bytes] = []
    for line in raw.split(b"\n"):
        if line.startswith(_DATA):
            data.append(line[6:] if line[5:6] == b" " else line[5:])
        elif line.startswith(_EVENT):
            event = (line[7:] if line[6:7] == b" " else line[6:]).decode()
    return SseFrame(event=event, data=b"\n".join(data), raw=raw)
