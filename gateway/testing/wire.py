"""Builders for real upstream wire bytes: Anthropic Messages and OpenAI Chat Completions.

Shapes follow /work/shared/reference/api-spec.md sections 2, 3, 4 and 5. Every builder returns a fresh
object, so tests may mutate what they get back.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ANTHROPIC_MODEL = "claude-x"
OPENAI_MODEL = "gpt-x"
CREATED = 1730000000
FAKE_SIGNATURE = "sig_fake_0001"
OPENAI_DONE = b"data: [DONE]\n\n"


def dumps(obj: object) -> str:
    """Compact JSON, as the real APIs send it."""
    return json.dumps(obj, separators=(",", ":"))


@dataclass(frozen=True)
class ToolUse:
    """One tool call; Anthropic `tool_use` block or OpenAI `tool_calls` entry."""

    id: str
    name: str
    input: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class SseEvent:
    """One parsed SSE event: the `event:` line (None if absent) and the joined `data:` lines."""

    event: str | None
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


def parse_sse(raw: bytes) -> list[SseEvent]:
    """Split an SSE byte stream into events the way both SDKs do (comments skipped)."""
    text = raw.decode().replace("\r\n", "\n").replace("\r", "\n")
    events: list[SseEvent] = []
    for block in text.split("\n\n"):
        name: str | None = None
        data: list[str] = []
        for line in block.split("\n"):
            key, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if key == "event":
                name = value
            elif key == "data":
                data.append(value)
        if name is not None or data:
            events.append(SseEvent(name, "\n".join(data)))
    return events


def _fragments(text: str, parts: int = 3) -> list[str]:
    """Cut text into up to `parts` pieces so consumers must reassemble it."""
    size = max(1, math.ceil(len(text) / parts))
    return [text[i : i + size] for i in range(0, len(text), size)]


# --- Anthropic -------------------------------------------------------------------------------------------


def anthropic_usage(
    input_tokens: int = 25,
    output_tokens: int = 40,
    *,
    cache_creation_input_tokens: int = 0,
    cache_read_input_tokens: int = 0,
    ephemeral_1h_input_tokens: int = 0,
) -> dict[str, Any]:
    """A complete Anthropic `usage` object with every int field set; of the cache writes,
    `ephemeral_1h_input_tokens` were 1-hour ones (`ttl: "1h"`), the rest 5-minute ones."""
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": cache_creation_input_tokens,
        "cache_read_input_tokens": cache_read_input_tokens,
        "cache_creation": {
            "ephemeral_5m_input_tokens": cache_creation_input_tokens - ephemeral_1h_input_tokens,
            "ephemeral_1h_input_tokens": ephemeral_1h_input_tokens,
        },
        "server_tool_use": None,
        "service_tier": "standard",
    }


def anthropic_message(
    text: str | None = "Hi",
    *,
    model: str = ANTHROPIC_MODEL,
    tool_uses: Sequence[ToolUse] = (),
    thinking: str | None = None,
    stop_reason: str | None = None,
    usage: Mapping[str, object] | None = None,
    id: str | None = None,
) -> dict[str, Any]:
    """A complete Messages API response body. `text=None` leaves out the text block."""
    content: list[dict[str, object]] = []
    if thinking is not None:
        content.append({"type": "thinking", "thinking": thinking, "signature": FAKE_SIGNATURE})
    if text is not None:
        content.append({"type": "text", "text": text, "citations": None})
    for tool in tool_uses:
        content.append({"type": "tool_use", "id": tool.id, "name": tool.name, "input": dict(tool.input)})
    return {
        "id": id or "msg_fake01",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason or ("tool_use" if tool_uses else "end_turn"),
        "stop_sequence": None,
        "usage": dict(usage) if usage is not None else anthropic_usage(),
    }


def anthropic_error(kind: str, message: str, *, request_id: str = "req_fake") -> dict[str, Any]:
    """Anthropic error body, e.g. anthropic_error("overloaded_error", "Overloaded")."""
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id}


def anthropic_frame(event_type: str, data: Mapping[str, object]) -> bytes:
    """One SSE frame with the mandatory `event:` line."""
    return f"event: {event_type}\ndata: {dumps(data)}\n\n".encode()


def anthropic_error_frame(kind: str, message: str) -> bytes:
    """A mid-stream `event: error` frame (nothing follows it on the real API)."""
    return anthropic_frame("error", {"type": "error", "error": {"type": kind, "message": message}})


def _anthropic_block(index: int, block: Mapping[str, object], deltas: Sequence[Mapping[str, object]]) -> list[bytes]:
    frames = [
        anthropic_frame("content_block_start", {"type": "content_block_start", "index": index, "content_block": block})
    ]
    for delta in deltas:
        frames.append(
            anthropic_frame("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
        )
    frames.append(anthropic_frame("content_block_stop", {"type": "content_block_stop", "index": index}))
    return frames


def _anthropic_blocks(
    text_chunks: Sequence[str], tool_uses: Sequence[ToolUse], thinking: Sequence[str]
) -> list[list[bytes]]:
    """Frames per content block, in order: thinking, text, tools."""
    blocks: list[list[bytes]] = []
    if thinking:
        deltas: list[Mapping[str, object]] = [{"type": "thinking_delta", "thinking": t} for t in thinking]
        deltas.append({"type": "signature_delta", "signature": FAKE_SIGNATURE})
        blocks.append(_anthropic_block(len(blocks), {"type": "thinking", "thinking": "", "signature": ""}, deltas))
    if text_chunks:
        deltas = [{"type": "text_delta", "text": t} for t in text_chunks]
        blocks.append(_anthropic_block(len(blocks), {"type": "text", "text": ""}, deltas))
    for tool in tool_uses:
        # The real API starts with an empty fragment and splits the JSON anywhere, even inside strings.
        pieces = ["", *_fragments(json.dumps(dict(tool.input)))]
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces]
        start = {"type": "tool_use", "id": tool.id, "name": tool.name, "input": {}}
        blocks.append(_anthropic_block(len(blocks), start, deltas))
    return blocks


def anthropic_sse(
    text_chunks: Sequence[str] = ("Hel", "lo"),
    *,
    tool_uses: Sequence[ToolUse] = (),
    thinking: str | Sequence[str] | None = None,
    model: str = ANTHROPIC_MODEL,
    usage: Mapping[str, object] | None = None,
    stop_reason: str | None = None,
    ping: bool = True,
    extra_frames: Sequence[bytes] = (),
    id: str | None = None,
) -> list[bytes]:
    """The full event sequence of api-spec section 3; `extra_frames` go just before `message_delta`."""
    final = dict(usage) if usage is not None else anthropic_usage()
    start_msg = anthropic_message(None, model=model, usage={**final, "output_tokens": 1}, id=id)
    start_msg.update(content=[], stop_reason=None)
    frames = [anthropic_frame("message_start", {"type": "message_start", "message": start_msg})]
    thinking_chunks = [thinking] if isinstance(thinking, str) else list(thinking or ())
    for i, block in enumerate(_anthropic_blocks(text_chunks, tool_uses, thinking_chunks)):
        frames.extend(block[:1])
        if ping and i == 0:  # where the real API puts it: right after the first content_block_start
            frames.append(anthropic_frame("ping", {"type": "ping"}))
        frames.extend(block[1:])
    counts = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens")
    delta = {
        "type": "message_delta",
        "delta": {
            "stop_reason": stop_reason or ("tool_use" if tool_uses else "end_turn"),
            "stop_sequence": None,
        },
        "usage": {k: final[k] for k in counts if k in final},
    }
    frames.extend(extra_frames)
    frames.append(anthropic_frame("message_delta", delta))
    frames.append(anthropic_frame("message_stop", {"type": "message_stop"}))
    return frames


# --- OpenAI ----------------------------------------------------------------------------------------------


def openai_usage(
    prompt_tokens: int = 30, completion_tokens: int = 12, *, cached_tokens: int = 0, reasoning_tokens: int = 0
) -> dict[str, Any]:
    """A complete OpenAI `usage` object; `prompt_tokens` includes `cached_tokens`, as upstream."""
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": reasoning_tokens},
    }


def openai_tool_call(tool: ToolUse) -> dict[str, Any]:
    return {
        "id": tool.id,
        "type": "function",
        "function": {"name": tool.name, "arguments": dumps(dict(tool.input))},
    }


def openai_completion(
    text: str | None = "Hi",
    *,
    model: str = OPENAI_MODEL,
    tool_calls: Sequence[ToolUse] = (),
    finish_reason: str | None = None,
    usage: Mapping[str, object] | None = None,
    reasoning: str | None = None,
    reasoning_key: str = "reasoning_content",
    id: str | None = None,
) -> dict[str, Any]:
    """A complete `chat.completion` body; `reasoning` lands in message[reasoning_key]."""
    message: dict[str, object] = {"role": "assistant", "content": text, "refusal": None, "annotations": []}
    if tool_calls:
        message["tool_calls"] = [openai_tool_call(t) for t in tool_calls]
    if reasoning is not None:
        message[reasoning_key] = reasoning
    choice = {
        "index": 0,
        "message": message,
        "logprobs": None,
        "finish_reason": finish_reason or ("tool_calls" if tool_calls else "stop"),
    }
    return {
        "id": id or "chatcmpl-fake01",
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "system_fingerprint": None,
        "choices": [choice],
        "usage": dict(usage) if usage is not None else openai_usage(),
    }


def openai_error(kind: str, message: str, *, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    """OpenAI error body, e.g. openai_error("rate_limit_exceeded", "Slow down")."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def openai_frame(data: Mapping[str, object]) -> bytes:
    """One `data:` frame (no `event:` line, as OpenAI sends)."""
    return f"data: {dumps(data)}\n\n".encode()


def openai_error_frame(kind: str, message: str, *, code: str | None = None) -> bytes:
    """A mid-stream error chunk; the openai SDK raises APIError on it."""
    return openai_frame(openai_error(kind, message, code=code))


def _openai_tool_deltas(tool_calls: Sequence[ToolUse]) -> list[dict[str, object]]:
    """Deltas for each call: id/type/name only in the first fragment, arguments split over the rest."""
    deltas: list[dict[str, object]] = []
    for index, tool in enumerate(tool_calls):
        first = {
            "index": index,
            "id": tool.id,
            "type": "function",
            "function": {"name": tool.name, "arguments": ""},
        }
        deltas.append({"tool_calls": [first]})
        for piece in _fragments(dumps(dict(tool.input))):
            deltas.append({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    return deltas


def openai_sse(
    text_chunks: Sequence[str] = ("Hel", "lo"),
    *,
    tool_calls: Sequence[ToolUse] = (),
    finish_reason: str | None = None,
    usage: Mapping[str, object] | None = None,
    include_usage: bool = True,
    usage_in_separate_chunk: bool = True,
    done: bool = True,
    reasoning_chunks: Sequence[str] = (),
    reasoning_key: str = "reasoning_content",
    model: str = OPENAI_MODEL,
    id: str | None = None,
) -> list[bytes]:
    """`chat.completion.chunk` frames: role, reasoning, text, tool calls, finish, usage, [DONE]."""
    deltas: list[dict[str, object]] = [{"role": "assistant", "content": ""}]
    deltas += [{reasoning_key: r} for r in reasoning_chunks]
    deltas += [{"content": t} for t in text_chunks]
    deltas += _openai_tool_deltas(tool_calls)
    final_usage = dict(usage) if usage is not None else openai_usage()
    # With stream_options.include_usage every chunk but the usage one carries "usage": null.
    extra: dict[str, object] = {"usage": None} if include_usage else {}

    def chunk(choices: list[dict[str, object]], **fields: object) -> bytes:
        body = {"id": id or "chatcmpl-fake01", "object": "chat.completion.chunk", "created": CREATED}
        body.update(model=model, system_fingerprint=None, choices=choices, **extra)
        return openai_frame({**body, **fields})

    def choice(delta: dict[str, object], finish: str | None = None) -> dict[str, Any]:
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}

    frames = [chunk([choice(d)]) for d in deltas]
    finish = choice({}, finish_reason or ("tool_calls" if tool_calls else "stop"))
    if include_usage and not usage_in_separate_chunk:
        frames.append(chunk([finish], usage=final_usage))
    else:
        frames.append(chunk([finish]))
        if include_usage:
            frames.append(chunk([], usage=final_usage))
    if done:
        frames.append(OPENAI_DONE)
    return frames
