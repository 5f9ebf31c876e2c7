"""OpenAI stream frames as canonical chunks: translated events plus the frames' bytes for OpenAI clients."""

from __future__ import annotations

import msgspec

from gateway import ChatCall, Chunk, UpstreamError
from gateway.api import (
    END,
    SseBatch,
    SseFrame,
    usage_from_openai,
)
from gateway.api import anthropic as a
from gateway.api import openai as o

from .chat_stream import OpenAIStreamTranslator
from .errors import error_message

DONE = b"[DONE]"
DONE_FRAME = b"data: [DONE]\n\n"


class ChunkView(msgspec.Struct):
    """What a pure relay reads of a chunk: whether it has choices, its usage, an error."""

    choices: list[msgspec.Raw] = []
    usage: o.CompletionUsage | None = None
    error: msgspec.Raw | None = None


_VIEW = msgspec.json.Decoder(ChunkView)


class StreamRelay:
    """One chunk per upstream read. The usage-only frame we asked for is not relayed to a client that did not
    ask for it (its `choices: []` breaks naive clients); a missing [DONE] is supplied by `end()`.

    Under `call.relay_stream` (an OpenAI client, no plugin reading chunks) the frames are not translated: only
    usage and errors are read, and the stream's usage is reported once, at its end.
    """

    def __init__(self, call: ChatCall) -> None:
        self._translator = OpenAIStreamTranslator(model=call.model)
        self._client_wants_usage = call.include_usage
        self._relay_only = call.relay_stream
        self._usage: o.CompletionUsage | None = None

    def chunk_of(self, batch: SseBatch) -> tuple[Chunk, bool, UpstreamError | None]:
        """The batch as a chunk, whether [DONE] ended the stream, and the error a broken frame carries."""
        if self._relay_only:
            return self._relayed_only(batch)
        events: list[a.StreamEvent] = []
        hidden: set[int] = set()
        frames = batch.frames()
        for position, frame in enumerate(frames):
            if frame.data == DONE:
                events += self._translator.finish()
                return _chunk(events, _relayed(batch, frames, position, hidden) + DONE_FRAME), True, None
            if not frame.data:
                continue  # comments and keep-alives
            try:
                chunk = _decode_chunk(frame.data)
            except UpstreamError as error:
                return _chunk(events, _relayed(batch, frames, position, hidden)), True, error
            events += self._translator.feed(chunk)
            if not chunk.choices and not self._client_wants_usage:
                hidden.add(position)
        return _chunk(events, _relayed(batch, frames, len(frames), hidden)), False, None

    def end(self) -> Chunk:
        if self._relay_only:
            return _chunk(self._usage_events(), DONE_FRAME)
        return _chunk(self._translator.finish(), DONE_FRAME)

    def _relayed_only(self, batch: SseBatch) -> tuple[Chunk, bool, UpstreamError | None]:
        hidden: set[int] = set()
        frames = batch.frames()
        for position, frame in enumerate(frames):
            if frame.data == DONE:
                relayed = _relayed(batch, frames, position, hidden) + DONE_FRAME
                return _chunk(self._usage_events(), relayed), True, None
            if not frame.data:
                continue
            try:
                view = _VIEW.decode(frame.data)
            except (msgspec.DecodeError, RecursionError):
                view = ChunkView(error=msgspec.Raw(b"null"))
            if view.error is not None:
                error = UpstreamError(error_message(frame.data) or "upstream sent an invalid chunk")
                return _chunk([], _relayed(batch, frames, position, hidden)), True, error
            if view.usage is not None:
                self._usage = view.usage
            if not view.choices and not self._client_wants_usage:
                hidden.add(position)
        return _chunk([], _relayed(batch, frames, len(frames), hidden)), False, None

    def _usage_events(self) -> list[a.StreamEvent]:
        """The stream's usage, as the canonical events that carry it (what gw_record_usage needs)."""
        usage = usage_from_openai(self._usage)
        delta = a.DeltaUsage(
            output_tokens=usage.output_tokens,
            input_tokens=usage.input_tokens,
            cache_creation_input_tokens=usage.cache_creation_input_tokens,
            cache_read_input_tokens=usage.cache_read_input_tokens,
        )
        return [a.MessageDelta(delta=a.MessageDeltaBody(), usage=delta), a.MessageStop()]


def _chunk(events: list[a.StreamEvent], relayed: bytes) -> Chunk:
    return Chunk(events=tuple(events), frame=relayed, frame_dialect="openai")


def _relayed(batch: SseBatch, frames: list[SseFrame], upto: int, hidden: set[int]) -> bytes:
    """The bytes of the batch's first `upto` frames, less the hidden ones (usually: the whole batch as read)."""
    if upto == len(frames) and not hidden:
        return batch.raw
    return b"".join([f.raw + END for i, f in enumerate(frames[:upto]) if i not in hidden])


def _decode_chunk(data: bytes) -> o.ChatCompletionChunk:
    try:
        return o.CHUNK_DECODER.decode(data)
    except (msgspec.DecodeError, RecursionError):
        message = error_message(data) or "upstream sent an invalid chunk"
        raise UpstreamError(message) from None
