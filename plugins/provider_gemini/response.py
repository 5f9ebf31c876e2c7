"""Gemini GenerateContentResponse -> canonical Anthropic Message, and what the stream translator shares.

A part becomes pieces (`pieces_of`), and pieces become blocks the same way whether they arrive in one response
or across stream chunks: thought text is thinking, a signature closes the thinking it belongs to or stands
alone before the part it rides on (see signatures.py), text is text, and a function call is a whole tool_use.
"""

from __future__ import annotations

from typing import Literal

import msgspec
from msgspec import UnsetType

from gateway.api import anthropic as a
from gateway.api import new_message_id, new_tool_use_id

from . import signatures
from . import wire as g
from .errors import error_from_status

# finishReason -> stop_reason; a turn with function calls ends in tool_use unless it was cut by length.
STOP_REASONS = {
    "STOP": "end_turn",
    "MAX_TOKENS": "max_tokens",
    "SAFETY": "refusal",
    "RECITATION": "refusal",
    "LANGUAGE": "refusal",
    "BLOCKLIST": "refusal",
    "PROHIBITED_CONTENT": "refusal",
    "SPII": "refusal",
    "IMAGE_SAFETY": "refusal",
    "IMAGE_PROHIBITED_CONTENT": "refusal",
    "IMAGE_RECITATION": "refusal",
}
EMPTY_ARGS = "{}"

PieceKind = Literal["thinking", "signature", "next_signature", "text", "tool_use"]


class Piece(msgspec.Struct, frozen=True):
    """One unit of a part: `text` holds the text, the signature (already prefixed) or the tool arguments."""

    kind: PieceKind
    text: str = ""
    name: str = ""


def pieces_of(part: g.Part) -> list[Piece]:
    """What a part means, in order. Inline data and code execution parts have no canonical form: dropped."""
    text = part.text if isinstance(part.text, str) else ""
    signature = part.thought_signature if isinstance(part.thought_signature, str) else ""
    if part.thought is True:
        pieces = [Piece("thinking", text)] if text else []
        if signature:
            pieces.append(Piece("signature", signatures.THOUGHT + signature))
        return pieces
    pieces = [Piece("next_signature", signatures.NEXT_PART + signature)] if signature else []
    if text:
        pieces.append(Piece("text", text))
    call = part.function_call
    if isinstance(call, g.FunctionCall):
        args = bytes(call.args).decode() if isinstance(call.args, msgspec.Raw) else EMPTY_ARGS
        pieces.append(Piece("tool_use", args if args.lstrip().startswith("{") else EMPTY_ARGS, call.name))
    return pieces


def response_to_message(resp: g.GenerateContentResponse, *, model: str) -> a.Message:
    """Gemini -> canonical. `model` is the client's name for the model."""
    raise_for_error(resp)
    candidate = resp.candidates[0] if resp.candidates else None
    content: list[a.ContentBlock] = []
    if candidate is not None and isinstance(candidate.content, g.Content):
        for part in candidate.content.parts:
            for piece in pieces_of(part):
                _add(content, piece)
    has_tool_use = any(block.type == "tool_use" for block in content)
    return a.Message(
        id=message_id(resp),
        model=model,
        content=content,
        stop_reason=stop_reason(candidate, blocked=_blocked(resp), has_tool_use=has_tool_use),
        usage=usage_from_gemini(resp.usage_metadata),
    )


def raise_for_error(resp: g.GenerateContentResponse) -> None:
    """A response (or stream chunk) that carries an error instead of content."""
    if isinstance(resp.error, g.ErrorStatus):
        raise error_from_status(resp.error)


def message_id(resp: g.GenerateContentResponse) -> str:
    return f"msg_{resp.response_id}" if isinstance(resp.response_id, str) and resp.response_id else new_message_id()


def stop_reason(candidate: g.Candidate | None, *, blocked: bool, has_tool_use: bool) -> str:
    """A blocked prompt (no candidate) is a refusal; otherwise map finishReason (absent: end_turn)."""
    if blocked and candidate is None:
        return "refusal"
    finish = candidate.finish_reason if candidate is not None else None
    finish = finish if isinstance(finish, str) else "STOP"
    if finish == "MAX_TOKENS":
        return "max_tokens"
    if has_tool_use:
        return "tool_use"
    # OTHER, MALFORMED_FUNCTION_CALL, ...: the turn is over and the content says what there is.
    return STOP_REASONS.get(finish, "end_turn")


def usage_from_gemini(meta: g.UsageMetadata | UnsetType) -> a.Usage:
    """promptTokenCount includes cached tokens, Anthropic's input_tokens does not; thoughts are output."""
    if isinstance(meta, UnsetType):
        return a.Usage()
    cached = meta.cached_content_token_count
    prompt = meta.prompt_token_count + meta.tool_use_prompt_token_count
    return a.Usage(
        input_tokens=max(prompt - cached, 0),
        output_tokens=meta.candidates_token_count + meta.thoughts_token_count,
        cache_read_input_tokens=cached,
        cache_creation_input_tokens=0,
    )


def _blocked(resp: g.GenerateContentResponse) -> bool:
    feedback = resp.prompt_feedback
    return isinstance(feedback, g.PromptFeedback) and isinstance(feedback.block_reason, str)


def _add(content: list[a.ContentBlock], piece: Piece) -> None:
    """Fold a piece into the blocks so far: text and unsigned thinking grow the block they continue."""
    last = content[-1] if content else None
    if piece.kind == "text":
        if last is not None and last.type == "text" and isinstance(last.text, str):
            last.text += piece.text
        else:
            content.append(a.ContentBlock(type="text", text=piece.text))
    elif piece.kind == "thinking":
        if last is not None and _open_thinking(last):
            last.thinking = f"{last.thinking}{piece.text}"
        else:
            content.append(a.ContentBlock(type="thinking", thinking=piece.text, signature=""))
    elif piece.kind == "signature" and last is not None and _open_thinking(last):
        last.signature = piece.text
    elif piece.kind in ("signature", "next_signature"):
        content.append(a.ContentBlock(type="thinking", thinking="", signature=piece.text))
    else:
        block = a.ContentBlock(type="tool_use", id=new_tool_use_id(), name=piece.name, input=msgspec.Raw(piece.text))
        content.append(block)


def _open_thinking(block: a.ContentBlock) -> bool:
    """A thinking block that has no signature yet, so more thought text still belongs to it."""
    return block.type == "thinking" and not block.signature
