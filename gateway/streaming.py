"""Canonical stream helpers: the one writer of Anthropic event sequences that every translator from another
wire feeds, a complete Message as an event sequence, and usage read off a stream."""

from __future__ import annotations

import msgspec
from msgspec.structs import replace

from .schemas import anthropic as a


class EventWriter:
    """Writes a valid Anthropic event sequence for translators of other wires (OpenAI, Gemini, Converse).

    The Anthropic side is strict where the others are loose: message_start first; block indices global,
    contiguous and in start order; one block open at a time, each stopped exactly once; message_delta and
    message_stop last. Translators say what came (`text`, `thinking`, a whole `block`, a `delta` for the open
    one, the `end`); the writer keeps the indices and the open block, and `take()` hands over the events.
    """

    def __init__(self) -> None:
        self.events: list[a.StreamEvent] = []
        self.started = False
        self.finished = False
        self.open_kind: str | None = None  # the open block's kind ("text", "thinking", "tool_use", ...), if any
        self.tool_blocks = 0  # tool_use blocks started so far
        self._next = 0

    @property
    def open_index(self) -> int:
        """The index of the open block (or of the last one started)."""
        return self._next - 1

    def start(self, message_id: str, model: str, usage: a.Usage | None = None) -> None:
        """message_start: an empty message; output counts come in message_delta, as the API does."""
        self.started = True
        start_usage = replace(usage, output_tokens=0) if usage is not None else a.Usage()
        message = a.Message(id=message_id, model=model, content=[], stop_reason=None, usage=start_usage)
        self.events.append(a.MessageStart(message=message))

    def block(self, block: a.ContentBlock, kind: str | None = None) -> int:
        """Close the open block, start `block` (its kind is its type unless given); its index."""
        self.close()
        index, self._next = self._next, self._next + 1
        self.open_kind = kind or block.type
        if block.type == "tool_use":
            self.tool_blocks += 1
        self.events.append(a.ContentBlockStart(index=index, content_block=block))
        return index

    def delta(self, delta: a.Delta) -> None:
        """A delta of the open block."""
        self.events.append(a.ContentBlockDelta(index=self._next - 1, delta=delta))

    def text(self, text: str) -> None:
        """Text: continues the open text block, or starts one."""
        if self.open_kind != "text":
            self.block(a.ContentBlock(type="text", text=""))
        self.delta(a.Delta(type="text_delta", text=text))

    def thinking(self, thinking: str) -> None:
        """Thinking: continues the open thinking block, or starts one."""
        if self.open_kind != "thinking":
            self.block(a.ContentBlock(type="thinking", thinking="", signature=""))
        self.delta(a.Delta(type="thinking_delta", thinking=thinking))

    def signature(self, signature: str) -> None:
        """A thinking block's signature, which completes it (starting an empty one if none is open)."""
        if self.open_kind != "thinking":
            self.block(a.ContentBlock(type="thinking", thinking="", signature=""))
        self.delta(a.Delta(type="signature_delta", signature=signature))
        self.close()

    def close(self) -> None:
        """Stop the open block, if any."""
        if self.open_kind is not None:
            self.events.append(a.ContentBlockStop(index=self._next - 1))
            self.open_kind = None

    def end(self, stop_reason: str | None, usage: a.DeltaUsage, stop_sequence: str | None = None) -> None:
        """Close the open block, then message_delta and message_stop."""
        self.close()
        self.finished = True
        body = a.MessageDeltaBody(stop_reason=stop_reason, stop_sequence=stop_sequence)
        self.events += [a.MessageDelta(delta=body, usage=usage), a.MessageStop()]

    def take(self) -> list[a.StreamEvent]:
        """The events written since the last take."""
        events, self.events = self.events, []
        return events


def delta_usage(usage: a.Usage) -> a.DeltaUsage:
    """A message's usage as message_delta carries it."""
    return a.DeltaUsage(
        output_tokens=usage.output_tokens,
        input_tokens=usage.input_tokens,
        cache_creation_input_tokens=usage.cache_creation_input_tokens,
        cache_read_input_tokens=usage.cache_read_input_tokens,
    )


# Blocks whose input streams as input_json_delta.
TOOL_USES = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})


def message_to_events(message: a.Message, pieces: int = 1) -> list[a.StreamEvent]:
    """The SSE event sequence that streams `message`, each text split into at most `pieces` deltas."""
    out = EventWriter()
    out.start(message.id, message.model, message.usage)
    for block in message.content:
        opening, deltas = _opening_and_deltas(block, pieces)
        out.block(opening)
        for delta in deltas:
            out.delta(delta)
        out.close()
    out.end(message.stop_reason, delta_usage(message.usage), message.stop_sequence)
    return out.take()


def _opening_and_deltas(block: a.ContentBlock, pieces: int) -> tuple[a.ContentBlock, list[a.Delta]]:
    """A block as its content_block_start (emptied) and the deltas that fill it; other blocks come whole."""
    if block.type == "text" and isinstance(block.text, str):
        deltas = [a.Delta(type="text_delta", text=part) for part in split_text(block.text, pieces)]
        return replace(block, text=""), deltas
    if block.type in TOOL_USES:
        partial = bytes(block.input).decode() if isinstance(block.input, msgspec.Raw) else "{}"
        deltas = [a.Delta(type="input_json_delta", partial_json=part) for part in split_text(partial, pieces)]
        return replace(block, input=msgspec.Raw(b"{}")), deltas
    if block.type == "thinking" and isinstance(block.thinking, str):
        deltas = [a.Delta(type="thinking_delta", thinking=part) for part in split_text(block.thinking, pieces)]
        if isinstance(block.signature, str) and block.signature:
            deltas.append(a.Delta(type="signature_delta", signature=block.signature))
        return replace(block, thinking="", signature=""), deltas
    return block, []


def split_text(text: str, pieces: int) -> list[str]:
    if pieces <= 1 or len(text) <= 1:
        return [text] if text else []
    size = -(-len(text) // pieces)
    return [text[i : i + size] for i in range(0, len(text), size)]


class UsageTracker:
    """Follows a stream's usage the way the SDK does: message_delta values overwrite message_start's."""

    def __init__(self) -> None:
        self.usage = a.Usage()
        self.stop_reason: str | None = None

    def feed(self, event: a.StreamEvent) -> None:
        if isinstance(event, a.MessageStart):
            self.usage = event.message.usage
        elif isinstance(event, a.MessageDelta):
            self.stop_reason = event.delta.stop_reason
            self.usage = _merge(self.usage, event.usage)


def _merge(usage: a.Usage, delta: a.DeltaUsage) -> a.Usage:
    return a.Usage(
        input_tokens=delta.input_tokens if isinstance(delta.input_tokens, int) else usage.input_tokens,
        output_tokens=delta.output_tokens,
        cache_creation_input_tokens=_or(delta.cache_creation_input_tokens, usage.cache_creation_input_tokens),
        cache_read_input_tokens=_or(delta.cache_read_input_tokens, usage.cache_read_input_tokens),
        # message_delta has no 5-minute / 1-hour split of the writes: message_start's stays (1-hour ones cost more)
        service_tier=usage.service_tier,
        cache_creation=usage.cache_creation,
    )


def _or(value: object, fallback: int | None) -> int | None:
    return value if isinstance(value, int) else fallback


class MessageAssembler:
    """Rebuilds the complete Message a canonical event sequence streamed (what a response cache stores).

    `message()` is None until message_stop came: a stream cut short is not a complete answer."""

    def __init__(self) -> None:
        self._message: a.Message | None = None
        self._blocks: dict[int, a.ContentBlock] = {}
        self._parts: dict[int, list[str]] = {}  # text, thinking or partial JSON of each block, in order
        self._tracker = UsageTracker()
        self._stop_sequence: str | None = None
        self._done = False

    def feed(self, event: a.StreamEvent) -> None:
        self._tracker.feed(event)
        if isinstance(event, a.MessageStart):
            self._message = event.message
        elif isinstance(event, a.ContentBlockStart):
            self._blocks[event.index] = event.content_block
            self._parts[event.index] = []
        elif isinstance(event, a.ContentBlockDelta):
            self._delta(event.index, event.delta)
        elif isinstance(event, a.MessageDelta):
            self._stop_sequence = event.delta.stop_sequence
        elif isinstance(event, a.MessageStop):
            self._done = True

    def _delta(self, index: int, delta: a.Delta) -> None:
        block = self._blocks.get(index)
        if block is None:
            return
        if delta.type == "signature_delta" and isinstance(delta.signature, str):
            self._blocks[index] = replace(block, signature=delta.signature)
            return
        for piece in (delta.text, delta.thinking, delta.partial_json):
            if isinstance(piece, str):
                self._parts[index].append(piece)

    def message(self) -> a.Message | None:
        if not self._done or self._message is None:
            return None
        content = [_filled(block, "".join(self._parts[i])) for i, block in sorted(self._blocks.items())]
        return replace(
            self._message,
            content=content,
            stop_reason=self._tracker.stop_reason,
            stop_sequence=self._stop_sequence,
            usage=self._tracker.usage,
        )


def _filled(block: a.ContentBlock, joined: str) -> a.ContentBlock:
    if block.type == "text":
        return replace(block, text=(block.text or "") + joined if isinstance(block.text, str) else joined)
    if block.type == "thinking":
        return replace(block, thinking=(block.thinking if isinstance(block.thinking, str) else "") + joined)
    if block.type in TOOL_USES and joined:
        return replace(block, input=msgspec.Raw(joined.encode()))
    return block
