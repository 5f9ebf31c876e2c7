"""Gemini `streamGenerateContent?alt=sse` chunks -> canonical Anthropic stream events.

Each chunk is a whole GenerateContentResponse whose parts are new (not cumulative): text parts continue the
open text block, thought parts the open thinking block, and a function call arrives complete, so it becomes a
whole tool_use block at once (start with empty input, one input_json_delta, stop). usageMetadata is cumulative
and finishReason comes with the last chunk; both go out in message_delta when the stream ends.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from gateway.schemas import anthropic as a
from gateway.translate.common import new_tool_use_id

from . import wire as g
from .response import Piece, message_id, pieces_of, raise_for_error, stop_reason, usage_from_gemini

_EMPTY_INPUT = msgspec.Raw(b"{}")
OpenKind = Literal["text", "thinking"]


class GeminiStreamTranslator:
    """Feed decoded chunks, get Anthropic events; call finish() at the end of the stream."""

    def __init__(self, *, model: str) -> None:
        self._model = model
        self._started = False
        self._finished = False
        self._next_index = 0
        self._open: OpenKind | None = None  # the kind of the open block that deltas may continue
        self._block_open = False
        self._tool_blocks = 0
        self._candidate: g.Candidate | None = None  # the latest one with a finishReason
        self._blocked = False
        self._usage: g.UsageMetadata | msgspec.UnsetType = msgspec.UNSET

    @property
    def complete(self) -> bool:
        """True once the upstream said the turn is over (a finishReason, or a blocked prompt)."""
        return self._candidate is not None or self._blocked

    def feed(self, chunk: g.GenerateContentResponse) -> list[a.StreamEvent]:
        """The events of one chunk. An error chunk raises UpstreamError (events before it were returned)."""
        raise_for_error(chunk)
        out: list[a.StreamEvent] = []
        if self._finished:
            return out
        if not self._started:
            self._start(chunk, out)
        if isinstance(chunk.usage_metadata, g.UsageMetadata):
            self._usage = chunk.usage_metadata
        feedback = chunk.prompt_feedback
        if isinstance(feedback, g.PromptFeedback) and isinstance(feedback.block_reason, str):
            self._blocked = True
        candidate = chunk.candidates[0] if chunk.candidates else None
        if candidate is None:
            return out
        if isinstance(candidate.content, g.Content):
            for part in candidate.content.parts:
                for piece in pieces_of(part):
                    self._piece(piece, out)
        if isinstance(candidate.finish_reason, str):
            self._candidate = candidate
        return out

    def finish(self) -> list[a.StreamEvent]:
        """Close the open block, then message_delta and message_stop. A second call returns []."""
        if self._finished:
            return []
        self._finished = True
        out: list[a.StreamEvent] = []
        if not self._started:
            self._start(g.GenerateContentResponse(), out)
        self._close(out)
        reason = stop_reason(self._candidate, blocked=self._blocked, has_tool_use=self._tool_blocks > 0)
        usage = usage_from_gemini(self._usage)
        delta_usage = a.DeltaUsage(
            output_tokens=usage.output_tokens,
            input_tokens=usage.input_tokens,
            cache_read_input_tokens=usage.cache_read_input_tokens,
            cache_creation_input_tokens=usage.cache_creation_input_tokens,
        )
        out.append(a.MessageDelta(delta=a.MessageDeltaBody(stop_reason=reason), usage=delta_usage))
        out.append(a.MessageStop())
        return out

    def _start(self, chunk: g.GenerateContentResponse, out: list[a.StreamEvent]) -> None:
        self._started = True
        usage = usage_from_gemini(chunk.usage_metadata)
        usage.output_tokens = 0  # as the API does: output is counted in message_delta
        message = a.Message(id=message_id(chunk), model=self._model, content=[], stop_reason=None, usage=usage)
        out.append(a.MessageStart(message=message))

    def _piece(self, piece: Piece, out: list[a.StreamEvent]) -> None:
        if piece.kind == "text":
            self._delta(out, "text", a.Delta(type="text_delta", text=piece.text))
        elif piece.kind == "thinking":
            self._delta(out, "thinking", a.Delta(type="thinking_delta", thinking=piece.text))
        elif piece.kind == "signature" and self._open == "thinking":
            self._signed(out, piece.text)
        elif piece.kind in ("signature", "next_signature"):
            self._close(out)
            self._begin(out, "thinking")
            self._signed(out, piece.text)
        else:
            self._close(out)
            block = a.ContentBlock(type="tool_use", id=new_tool_use_id(), name=piece.name, input=_EMPTY_INPUT)
            index = self._begin(out, None, block)
            delta = a.Delta(type="input_json_delta", partial_json=piece.text)
            out.append(a.ContentBlockDelta(index=index, delta=delta))
            self._tool_blocks += 1
            self._close(out)

    def _delta(self, out: list[a.StreamEvent], kind: OpenKind, delta: a.Delta) -> None:
        """Continue the open block of this kind, or close whatever is open and start one."""
        if self._open != kind:
            self._close(out)
            self._begin(out, kind)
        out.append(a.ContentBlockDelta(index=self._next_index - 1, delta=delta))

    def _signed(self, out: list[a.StreamEvent], signature: str) -> None:
        """A signature completes the open thinking block: later thought text starts a new one."""
        delta = a.Delta(type="signature_delta", signature=signature)
        out.append(a.ContentBlockDelta(index=self._next_index - 1, delta=delta))
        self._close(out)

    def _begin(self, out: list[a.StreamEvent], kind: OpenKind | None, block: a.ContentBlock | None = None) -> int:
        if block is None:
            block = (
                a.ContentBlock(type="text", text="")
                if kind == "text"
                else a.ContentBlock(type="thinking", thinking="", signature="")
            )
        index = self._next_index
        self._next_index += 1
        self._open = kind
        self._block_open = True
        out.append(a.ContentBlockStart(index=index, content_block=block))
        return index

    def _close(self, out: list[a.StreamEvent]) -> None:
        if not self._block_open:
            return
        out.append(a.ContentBlockStop(index=self._next_index - 1))
        self._block_open = False
        self._open = None
