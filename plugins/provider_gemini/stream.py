"""Gemini `streamGenerateContent?alt=sse` chunks -> canonical Anthropic stream events.

Each chunk is a whole GenerateContentResponse whose parts are new (not cumulative): text parts continue the
open text block, thought parts the open thinking block, and a function call arrives complete, so it becomes a
whole tool_use block at once (start with empty input, one input_json_delta, stop). usageMetadata is cumulative
and finishReason comes with the last chunk; both go out in message_delta when the stream ends.
"""

from __future__ import annotations

import msgspec

from gateway.api import EventWriter, delta_usage, new_tool_use_id
from gateway.api import anthropic as a

from . import wire as g
from .response import Piece, message_id, pieces_of, raise_for_error, stop_reason, usage_from_gemini

_EMPTY_INPUT = msgspec.Raw(b"{}")


class GeminiStreamTranslator:
    """Feed decoded chunks, get Anthropic events; call finish() at the end of the stream."""

    def __init__(self, *, model: str) -> None:
        self._model = model
        self._out = EventWriter()
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
        out = self._out
        if out.finished:
            return []
        if not out.started:
            out.start(message_id(chunk), self._model, usage_from_gemini(chunk.usage_metadata))
        if isinstance(chunk.usage_metadata, g.UsageMetadata):
            self._usage = chunk.usage_metadata
        feedback = chunk.prompt_feedback
        if isinstance(feedback, g.PromptFeedback) and isinstance(feedback.block_reason, str):
            self._blocked = True
        candidate = chunk.candidates[0] if chunk.candidates else None
        if candidate is not None:
            if isinstance(candidate.content, g.Content):
                for part in candidate.content.parts:
                    for piece in pieces_of(part):
                        self._piece(piece)
            if isinstance(candidate.finish_reason, str):
                self._candidate = candidate
        return out.take()

    def finish(self) -> list[a.StreamEvent]:
        """Close the open block, then message_delta and message_stop. A second call returns []."""
        out = self._out
        if out.finished:
            return []
        if not out.started:
            empty = g.GenerateContentResponse()
            out.start(message_id(empty), self._model, usage_from_gemini(empty.usage_metadata))
        reason = stop_reason(self._candidate, blocked=self._blocked, has_tool_use=out.tool_blocks > 0)
        out.end(reason, delta_usage(usage_from_gemini(self._usage)))
        return out.take()

    def _piece(self, piece: Piece) -> None:
        out = self._out
        if piece.kind == "text":
            out.text(piece.text)
        elif piece.kind == "thinking":
            out.thinking(piece.text)
        elif piece.kind in ("signature", "next_signature"):
            # A signature completes the open thinking block (or an empty one): later thought text starts anew.
            if piece.kind == "next_signature":
                out.close()
            out.signature(piece.text)
        else:  # a function call arrives whole: start, all of its input at once, stop
            out.block(a.ContentBlock(type="tool_use", id=new_tool_use_id(), name=piece.name, input=_EMPTY_INPUT))
            out.delta(a.Delta(type="input_json_delta", partial_json=piece.text))
            out.close()
