"""Deterministic replies: a tool call when the last user message names an offered tool or tool_choice forces one
(not when it answers a tool result), its input filled to satisfy the tool's schema; otherwise text that echoes
the last user message. Latency and chunking are configurable.

A tool is called only when asked for by name: an agent offers a dozen tools on every turn (Claude Code's first
is `Agent`), and calling one unasked would send it running tools nobody wanted."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator
from typing import Annotated, ClassVar

import msgspec
from msgspec import Meta, Struct, field

from gateway import CallContext, ChatCall, ChatResult, Chunk, ConfigStruct, ProviderKey
from gateway.api import FREE, BaseProvider, MediaRules, ProviderSetup, message_to_events
from gateway.api import anthropic as a

from .inputs import example_input


class MockOptions(ConfigStruct, frozen=True):
    latency_ms: Annotated[float, Meta(ge=0)] = 0.0  # before the answer (before the first chunk when streaming)
    chunk_delay_ms: Annotated[float, Meta(ge=0)] = 0.0  # between stream chunks
    chunks: Annotated[int, Meta(ge=1, le=10_000)] = 4  # text deltas per text block when streaming
    models: list[str] = field(default_factory=lambda: ["mock-claude", "mock-gpt"])  # what the models routes list


class MockProvider(BaseProvider):
    kind: ClassVar[str] = "mock"
    options_type: ClassVar[type[Struct]] = MockOptions
    requires_keys: ClassVar[bool] = False
    media: ClassVar[MediaRules] = FREE

    def __init__(self, setup: ProviderSetup) -> None:
        super().__init__(setup)
        self.options: MockOptions = setup.options

    async def complete(self, call: ChatCall, key: ProviderKey, ctx: CallContext) -> ChatResult:
        await self._sleep(self.options.latency_ms)
        return ChatResult(message=reply_to(call))

    async def stream(self, call: ChatCall, key: ProviderKey, ctx: CallContext) -> AsyncIterator[Chunk]:
        await self._sleep(self.options.latency_ms)
        for event in message_to_events(reply_to(call), self.options.chunks):
            yield Chunk(events=(event,))
            if isinstance(event, a.ContentBlockDelta):
                await self._sleep(self.options.chunk_delay_ms)

    def known_models(self) -> list[str]:
        return list(self.options.models)

    @staticmethod
    async def _sleep(ms: float) -> None:
        if ms > 0:
            await asyncio.sleep(ms / 1000)


def reply_to(call: ChatCall) -> a.Message:
    request = call.request
    tool = _tool_to_call(request)
    if tool is not None:
        schema = msgspec.json.decode(tool.input_schema) if isinstance(tool.input_schema, msgspec.Raw) else {}
        arguments = msgspec.json.encode(example_input(schema, _last_user_text(request)))
        block_id = _stable_id("toolu_", request)
        content = [a.ContentBlock(type="tool_use", id=block_id, name=tool.name, input=msgspec.Raw(arguments))]
        stop_reason = "tool_use"
    else:
        text = f"Mock reply to: {_last_user_text(request)[:200]}" + _tool_results(request)
        content = [a.ContentBlock(type="text", text=text)]
        stop_reason = "end_turn"
    # Usage by a cheap rule (4 bytes a token): a mock must cost next to nothing, also when load-testing through
    # it; its count_tokens route still runs the real tokenizer.
    output = sum(len(b.text) // 4 + 1 if isinstance(b.text, str) else 8 for b in content)
    usage = a.Usage(input_tokens=len(a.ENCODER.encode(request.messages)) // 4 + 1, output_tokens=output)
    return a.Message(
        id=_stable_id("msg_mock_", request),
        model=call.model,
        content=content,
        stop_reason=stop_reason,
        usage=usage,
    )


def _tool_to_call(request: a.MessagesRequest) -> a.Tool | None:
    if not isinstance(request.tools, list) or not request.tools:
        return None
    choice = request.tool_choice
    if isinstance(choice, a.ToolChoice):
        if choice.type == "none":
            return None
        if choice.type == "tool":
            return next((t for t in request.tools if t.name == choice.name), request.tools[0])
    if isinstance(choice, a.ToolChoice) and choice.type == "any":
        return request.tools[0]
    if _answers_tool_result(request):
        return None
    words = set(re.findall(r"[\w-]+", _last_user_text(request).lower()))
    return next((t for t in request.tools if isinstance(t.name, str) and t.name.lower() in words), None)


def _last_turn(request: a.MessagesRequest) -> str | list[a.ContentBlock]:
    """The content of the conversation's last user or assistant turn: agents put system turns after it (Claude
    Code's reminders follow a tool result)."""
    turns = [m for m in request.messages if m.role != "system"]
    return turns[-1].content if turns else ""


def _answers_tool_result(request: a.MessagesRequest) -> bool:
    last = _last_turn(request)
    return isinstance(last, list) and any(block.type == "tool_result" for block in last)


def _tool_results(request: a.MessagesRequest) -> str:
    """What the tools just answered (the turn answers tool results), quoted: the reply uses what it was given."""
    last = _last_turn(request)
    if not isinstance(last, list):
        return ""
    quoted = [_result_text(b) for b in last if b.type == "tool_result"]
    return "".join(f"\n(tool result: {q[:200]})" for q in quoted if q)


def _result_text(block: a.ContentBlock) -> str:
    content = block.content
    if isinstance(content, str):
        return content.strip()
    blocks = content if isinstance(content, list) else [content] if isinstance(content, a.ContentBlock) else []
    return " ".join(b.text.strip() for b in blocks if b.type == "text" and isinstance(b.text, str))


def _last_user_text(request: a.MessagesRequest) -> str:
    for message in reversed(request.messages):
        if message.role != "user":
            continue
        if isinstance(message.content, str):
            return message.content
        texts = [b.text for b in message.content if b.type == "text" and isinstance(b.text, str)]
        if texts:
            # The last text block is what the user typed: agents put their reminders before it (Claude Code's
            # <system-reminder> blocks), and those name tools nobody asked for.
            return texts[-1]
    return ""


def _stable_id(prefix: str, request: a.MessagesRequest) -> str:
    """Deterministic ids: the same request gets the same answer, ids included."""
    return prefix + hashlib.sha256(a.ENCODER.encode(request.messages)).hexdigest()[:24]
