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
from gateway.schemas import anthropic as a

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
        self._started = False
        self._open: tuple[int, str] | None = None  # the open block: (Converse index, Anthropic block type)
        self._next_index = 0  # Anthropic index of the next block
        self._stop: w.MessageStop | None = None
        self._usage = w.TokenUsage()
        self.finished = False

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
        event_type = message.header(":event-type")
        events = self._start()
        if event_type == "contentBlockStart":
            events += self._block_start(_decode(w.BLOCK_START_DECODER, message.payload, event_type))
        elif event_type == "contentBlockDelta":
            events += self._block_delta(_decode(w.BLOCK_DELTA_DECODER, message.payload, event_type))
        elif event_type == "contentBlockStop":
            events += self._block_stop(_decode(w.BLOCK_STOP_DECODER, message.payload, event_type).content_block_index)
        elif event_type == "messageStop":
            events += self._close()
            self._stop = _decode(w.MESSAGE_STOP_DECODER, message.payload, event_type)
        elif event_type == "metadata":
            usage = _decode(w.METADATA_DECODER, message.payload, event_type).usage
            self._usage = usage or self._usage
            if self._stop is not None:  # metadata is the last event: end now rather than at EOF
                events += self._end()
        return events

    def finish(self) -> list[a.StreamEvent]:
        """At the end of the body: the closing events if metadata did not send them already."""
        if self.finished:
            return []
        if self._stop is None:
            raise UpstreamError("upstream stream ended before messageStop")
        return self._end()

    def _start(self) -> list[a.StreamEvent]:
        if self._started:
            return []
        self._started = True
        message = a.Message(id=self._message_id, model=self._model, content=[], stop_reason=None)
        return [a.MessageStart(message=message)]

    def _block_start(self, event: w.BlockStart) -> list[a.StreamEvent]:
        tool = event.start.tool_use
        if not isinstance(tool, w.ToolUseStart):
            return []  # toolResult / image starts belong to server-side tools we do not expose
        block = a.ContentBlock(type="tool_use", id=tool.tool_use_id, name=tool.name, input=Raw(b"{}"))
        return self._open_block(event.content_block_index, block)

    def _block_delta(self, event: w.BlockDelta) -> list[a.StreamEvent]:
        index, delta = event.content_block_index, event.delta
        if isinstance(delta.text, str):
            return self._delta(index, a.ContentBlock(type="text", text=""), a.Delta(type="text_delta", text=delta.text))
        if isinstance(delta.tool_use, w.ToolUseDelta):
            if self._open != (index, "tool_use"):
                return []  # input without its contentBlockStart: nothing to attach it to
            return self._delta_of_open(a.Delta(type="input_json_delta", partial_json=delta.tool_use.input))
        reasoning = delta.reasoning_content
        if isinstance(reasoning, w.ReasoningDelta):
            return self._reasoning_delta(index, reasoning)
        return []  # citations and other deltas have no canonical form here

    def _reasoning_delta(self, index: int, reasoning: w.ReasoningDelta) -> list[a.StreamEvent]:
        if isinstance(reasoning.redacted_content, str):  # arrives whole: Anthropic sends it in the block start
            block = a.ContentBlock(type="redacted_thinking", data=reasoning.redacted_content)
            return [*self._close(), *self._open_block(index, block)]
        opening = a.ContentBlock(type="thinking", thinking="", signature="")
        if isinstance(reasoning.text, str):
            return self._delta(index, opening, a.Delta(type="thinking_delta", thinking=reasoning.text))
        if isinstance(reasoning.signature, str):
            return self._delta(index, opening, a.Delta(type="signature_delta", signature=reasoning.signature))
        return []

    def _delta(self, index: int, opening: a.ContentBlock, delta: a.Delta) -> list[a.StreamEvent]:
        """A delta for Converse block `index`, opening an Anthropic block of `opening`'s type first if needed."""
        events = [] if self._open == (index, opening.type) else self._open_block(index, opening)
        return events + self._delta_of_open(delta)

    def _delta_of_open(self, delta: a.Delta) -> list[a.StreamEvent]:
        return [a.ContentBlockDelta(index=self._next_index - 1, delta=delta)]

    def _open_block(self, index: int, block: a.ContentBlock) -> list[a.StreamEvent]:
        events = self._close()
        events.append(a.ContentBlockStart(index=self._next_index, content_block=block))
        self._open = (index, block.type)
        self._next_index += 1
        return events

    def _block_stop(self, index: int) -> list[a.StreamEvent]:
        return self._close() if self._open is not None and self._open[0] == index else []

    def _close(self) -> list[a.StreamEvent]:
        if self._open is None:
            return []
        self._open = None
        return [a.ContentBlockStop(index=self._next_index - 1)]

    def _end(self) -> list[a.StreamEvent]:
        assert self._stop is not None
        self.finished = True
        stop_reason = stop_reason_of(self._stop.stop_reason)
        usage = usage_of(self._usage)
        delta = a.MessageDelta(
            delta=a.MessageDeltaBody(
                stop_reason=stop_reason,
                stop_sequence=stop_sequence_of(stop_reason, self._stop.additional_model_response_fields),
            ),
            usage=a.DeltaUsage(
                output_tokens=usage.output_tokens,
                input_tokens=usage.input_tokens,
                cache_creation_input_tokens=usage.cache_creation_input_tokens,
                cache_read_input_tokens=usage.cache_read_input_tokens,
            ),
        )
        return [*self._close(), delta, a.MessageStop()]


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
