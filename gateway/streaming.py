"""Canonical stream helpers: a complete Message as an event sequence, and usage read off a stream."""

from __future__ import annotations

import msgspec
from msgspec.structs import replace

from .schemas import anthropic as a


def message_to_events(message: a.Message, pieces: int = 1) -> list[a.StreamEvent]:
    """The SSE event sequence that streams `message`, each text split into at most `pieces` deltas."""
    start_usage = replace(message.usage, output_tokens=0)  # as the API does: output is counted in message_delta
    start = replace(message, content=[], stop_reason=None, stop_sequence=None, usage=start_usage)
    events: list[a.StreamEvent] = [a.MessageStart(message=start)]
    for index, block in enumerate(message.content):
        events.extend(_block_events(index, block, pieces))
    usage = message.usage
    events.append(
        a.MessageDelta(
            delta=a.MessageDeltaBody(stop_reason=message.stop_reason, stop_sequence=message.stop_sequence),
            usage=a.DeltaUsage(
                output_tokens=usage.output_tokens,
                input_tokens=usage.input_tokens,
                cache_creation_input_tokens=usage.cache_creation_input_tokens,
                cache_read_input_tokens=usage.cache_read_input_tokens,
            ),
        )
    )
    events.append(a.MessageStop())
    return events


def _block_events(index: int, block: a.ContentBlock, pieces: int) -> list[a.StreamEvent]:
    if block.type == "text" and isinstance(block.text, str):
        opening = replace(block, text="")
        deltas = [a.Delta(type="text_delta", text=part) for part in split_text(block.text, pieces)]
    elif block.type == "tool_use":
        opening = replace(block, input=msgspec.Raw(b"{}"))
        partial = bytes(block.input).decode() if isinstance(block.input, msgspec.Raw) else "{}"
        deltas = [a.Delta(type="input_json_delta", partial_json=part) for part in split_text(partial, pieces)]
    elif block.type == "thinking" and isinstance(block.thinking, str):
        opening = replace(block, thinking="", signature="")
        deltas = [a.Delta(type="thinking_delta", thinking=part) for part in split_text(block.thinking, pieces)]
        if isinstance(block.signature, str) and block.signature:
            deltas.append(a.Delta(type="signature_delta", signature=block.signature))
    else:  # other blocks arrive whole in content_block_start
        opening, deltas = block, []
    return [
        a.ContentBlockStart(index=index, content_block=opening),
        *(a.ContentBlockDelta(index=index, delta=delta) for delta in deltas),
        a.ContentBlockStop(index=index),
    ]


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
    )


def _or(value: object, fallback: int | None) -> int | None:
    return value if isinstance(value, int) else fallback
