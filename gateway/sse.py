"""Reading upstream Server-Sent Events in batches, keeping the exact bytes for relaying.

A batch is every complete frame one socket read delivered. Relaying a batch in one write (not one write per
frame) keeps a streaming relay as cheap as a plain proxy: a fast upstream delivers many frames per read, and
each write is a syscall. Parsing has a fast path for the one-`event:`-one-`data:` frames both APIs send.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import StreamReader
from msgspec import Struct

END = b"\n\n"


class SseFrame(Struct, frozen=True):
    event: str | None
    data: bytes  # the data lines joined with "\n", without the "data:" prefixes
    raw: bytes  # the frame as received (line endings normalised to "\n"), without its closing blank line


class SseBatch(Struct, frozen=True):
    raw: bytes  # complete frames as received, each ending in a blank line

    def frames(self) -> list[SseFrame]:
        """Parsed on demand: a relay that needs only a frame or two can find them with `find_frame`."""
        return [parse_frame(raw) for raw in self.raw[:-2].split(END) if raw.strip(b"\n")]

    def find_frame(self, event: bytes) -> SseFrame | None:
        """The first frame whose `event:` line names `event` (a C-speed search, no parsing of the others)."""
        raw = self.raw
        marker = b"event: " + event + b"\n"
        if raw.startswith(marker):
            at = 0
        elif (at := raw.find(b"\n" + marker)) < 0:
            return None
        previous_end = raw.rfind(END, 0, at + 1)  # the frame may hold lines before its event line
        start = previous_end + 2 if previous_end >= 0 else 0
        end = raw.find(END, at)
        return parse_frame(raw[start : end if end >= 0 else len(raw)])


class BatchSplitter:
    """Cuts received bytes into batches of complete frames, keeping an unfinished frame for the next read."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, data: bytes) -> SseBatch | None:
        if b"\r" in data:  # rare: servers that end lines with \r\n
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        pending = self._pending + data if self._pending else data
        end = pending.rfind(END)
        if end < 0:
            self._pending = pending
            return None
        complete, self._pending = pending[: end + 2], pending[end + 2 :]
        return SseBatch(raw=complete) if complete.strip(b"\n") else None

    def end(self) -> SseBatch | None:
        """A last frame cut off by EOF (no closing blank line), if any."""
        rest, self._pending = self._pending.strip(b"\n"), b""
        return SseBatch(raw=rest + END) if rest else None


async def iter_batches(reader: StreamReader) -> AsyncIterator[SseBatch]:
    """Yield the complete frames of each read; a last frame cut off by EOF is still yielded."""
    splitter = BatchSplitter()
    while data := await reader.readany():
        if (batch := splitter.feed(data)) is not None:
            yield batch
    if (last := splitter.end()) is not None:
        yield last


def parse_frame(raw: bytes) -> SseFrame:
    """Parse one frame (given without its closing blank line)."""
    if raw.startswith(b"data: ") and b"\n" not in raw:
        return SseFrame(event=None, data=raw[6:], raw=raw)
    if raw.startswith(b"event: "):
        newline = raw.find(b"\n")
        if newline > 0 and raw.startswith(b"data: ", newline + 1) and raw.find(b"\n", newline + 1) < 0:
            return SseFrame(event=raw[7:newline].decode(), data=raw[newline + 7 :], raw=raw)
    return _parse_lines(raw)


def _parse_lines(raw: bytes) -> SseFrame:
    """The general case: any order of fields, several data lines, comments, no space after the colon."""
    event: str | None = None
    data: list[bytes] = []
    for line in raw.split(b"\n"):
        if line.startswith(b"data:"):
            data.append(line[6:] if line[5:6] == b" " else line[5:])
        elif line.startswith(b"event:"):
            event = (line[7:] if line[6:7] == b" " else line[6:]).decode()
    return SseFrame(event=event, data=b"\n".join(data), raw=raw)
