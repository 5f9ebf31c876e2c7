"""ConverseStream events -> the canonical Anthropic event sequence (message_start ... message_stop).

Converse numbers its blocks itself and opens text and reasoning blocks implicitly (their first delta);
Anthropic clients want each block opened, filled and closed in turn with contiguous indices, so blocks are
renumbered here. The stop reason (messageStop) and the usage (metadata, after it) end the message together.
"""

from __future__ import annotations

from typing import TypeVar

import msgspec
from msgspec import Raw

from gateway import Chunk, UpstreamError
from gateway.api import EventWriter, delta_usage
from gateway.api import anthropic as a

from . import wire as w
from .errors import error_from_exception
from .eventstream import EventMessage, EventStreamDecoder
from .transform import stop_reason_of, stop_sequence_of, usage_of

T = TypeVar("T")


class ConverseStreamTranslator:
    """Feed it decoded event-stream messages; it returns the canonical events each one means."""

    def __init__(self, *, model: str, message_id: str) -> None:
        self._model = model
        self._message_id = message_id
        self._out = EventWriter()
        self._open_at: int | None = None  # the Converse index of the open block
        self._stop: w.MessageStop | None = None
        self._usage = w.TokenUsage()

    @property
    def finished(self) -> bool:
        return self._out.finished

    def feed(self, message: EventMessage) -> list[a.StreamEvent]:
        """Raises UpstreamError for an exception or error message (the stream cannot go on)."""
        message_type = message.header(":message-type")
        if message_type == "exception":
            raise error_from_exception(message.header(":exception-type"), message.payload)
        if message_type == "error":
            code, text = message.header(":error-code"), message.header(":error-message")
            raise UpstreamError(f"{code}: {text}" if code else text or "upstream stream failed")
        if message_type != "event" or self.finished:
            return []
        if not self._out.started:
            self._out.start(self._message_id, self._model)
        self._event(message.header(":event-type"), message.payload)
        return self._out.take()

    def finish(self) -> list[a.StreamEvent]:
        """At the end of the body: the closing events if metadata did not send them already."""
        if self.finished:
            return []
        if self._stop is None:
            raise UpstreamError("upstream stream ended before messageStop")
        self._end()
        return self._out.take()

    def _event(self, event_type: str, payload: bytes) -> None:
        if event_type == "contentBlockStart":
            self._block_start(_decode(w.BLOCK_START_DECODER, payload, event_type))
        elif event_type == "contentBlockDelta":
            self._block_delta(_decode(w.BLOCK_DELTA_DECODER, payload, event_type))
        elif event_type == "contentBlockStop":
            if _decode(w.BLOCK_STOP_DECODER, payload, event_type).content_block_index == self._open_at:
                self._out.close()
        elif event_type == "messageStop":
            self._out.close()
            self._stop = _decode(w.MESSAGE_STOP_DECODER, payload, event_type)
        elif event_type == "metadata":
            usage = _decode(w.METADATA_DECODER, payload, event_type).usage
            self._usage = usage or self._usage
            if self._stop is not None:  # metadata is the last event: end now rather than at EOF
                self._end()

    def _block_start(self, event: w.BlockStart) -> None:
        tool = event.start.tool_use
        if isinstance(tool, w.ToolUseStart):  # toolResult / image starts belong to server-side tools: not exposed
            self._open(
                event.content_block_index,
                a.ContentBlock(type="tool_use", id=tool.tool_use_id, name=tool.name, input=Raw(b"{}")),
            )

    def _block_delta(self, event: w.BlockDelta) -> None:
        index, delta = event.content_block_index, event.delta
        if isinstance(delta.text, str):
            self._delta(index, a.ContentBlock(type="text", text=""), a.Delta(type="text_delta", text=delta.text))
        elif isinstance(delta.tool_use, w.ToolUseDelta):
            if self._is_open(index, "tool_use"):  # input without its contentBlockStart has nothing to go to
                self._out.delta(a.Delta(type="input_json_delta", partial_json=delta.tool_use.input))
        elif isinstance(delta.reasoning_content, w.ReasoningDelta):
            self._reasoning_delta(index, delta.reasoning_content)
        # citations and other deltas have no canonical form here

    def _reasoning_delta(self, index: int, reasoning: w.ReasoningDelta) -> None:
        if isinstance(reasoning.redacted_content, str):  # arrives whole: Anthropic sends it in the block start
            self._open(index, a.ContentBlock(type="redacted_thinking", data=reasoning.redacted_content))
            return
        opening = a.ContentBlock(type="thinking", thinking="", signature="")
        if isinstance(reasoning.text, str):
            self._delta(index, opening, a.Delta(type="thinking_delta", thinking=reasoning.text))
        elif isinstance(reasoning.signature, str):
            self._delta(index, opening, a.Delta(type="signature_delta", signature=reasoning.signature))

    def _delta(self, index: int, opening: a.ContentBlock, delta: a.Delta) -> None:
        """A delta for Converse block `index`, opening an Anthropic block of `opening`'s type first if needed."""
        if not self._is_open(index, opening.type):
            self._open(index, opening)
        self._out.delta(delta)

    def _is_open(self, index: int, kind: str) -> bool:
        return self._open_at == index and self._out.open_kind == kind

    def _open(self, index: int, block: a.ContentBlock) -> None:
        self._out.block(block)
        self._open_at = index

    def _end(self) -> None:
        assert self._stop is not None
        stop_reason = stop_reason_of(self._stop.stop_reason)
        stop_sequence = stop_sequence_of(stop_reason, self._stop.additional_model_response_fields)
        self._out.end(stop_reason, delta_usage(usage_of(self._usage)), stop_sequence)


class ConverseStreamReader:
    """Socket reads in, one canonical chunk per read out (None when a read completed no event)."""

    def __init__(self, *, model: str, message_id: str) -> None:
        self._decoder = EventStreamDecoder()
        self._translator = ConverseStreamTranslator(model=model, message_id=message_id)

    def read(self, data: bytes) -> tuple[Chunk | None, UpstreamError | None]:
        """The events `data` completes, and the error that ended the stream in it (after those events)."""
        events: list[a.StreamEvent] = []
        try:
            for message in self._decoder.feed(data):
                events += self._translator.feed(message)
        except UpstreamError as error:
            return _chunk(events), error
        return _chunk(events), None

    def end(self) -> Chunk | None:
        """At EOF: the closing events; raises UpstreamError for a stream cut short."""
        if self._decoder.pending:
            raise UpstreamError("upstream event stream ended inside a message")
        return _chunk(self._translator.finish())


def _chunk(events: list[a.StreamEvent]) -> Chunk | None:
    return Chunk(events=tuple(events)) if events else None


def _decode(decoder: msgspec.json.Decoder[T], payload: bytes, event_type: str) -> T:
    try:
        return decoder.decode(payload)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise UpstreamError(f"upstream sent an invalid {event_type} event: {exc}") from None
