"""OpenAI `chat.completion.chunk` stream -> canonical Anthropic stream events (api-spec.md section 6.1).

Used by OpenAI-compatible providers. The Anthropic side is strict where OpenAI is loose: block indices are
global, contiguous and in start order, every started block gets exactly one stop, and (for the clients we care
about) only one block is open at a time. Tool calls are therefore buffered until their name is known and
until the tool block before them is complete, so interleaved fragments of parallel calls give valid JSON.
"""

from __future__ import annotations

from collections import deque

import msgspec

from gateway.api import (
    EventWriter,
    delta_usage,
    new_message_id,
    new_tool_use_id,
    stop_reason_from_finish,
    usage_from_openai,
)
from gateway.api import anthropic as a
from gateway.api import openai as o

_EMPTY_INPUT = msgspec.Raw(b"{}")


def _str(value: str | msgspec.UnsetType | None) -> str:
    return value if isinstance(value, str) else ""


class _Tool:
    """One upstream tool call; its block starts once its name is known and no tool block is open."""

    __slots__ = ("closed", "done", "emitted", "id", "name", "parts", "sent", "upstream_id")

    def __init__(self, upstream_id: str | None) -> None:
        self.upstream_id = upstream_id
        self.id = upstream_id or new_tool_use_id()
        self.name = ""
        self.parts: list[str] = []  # every arguments fragment, in order (completeness checks need them all)
        self.emitted = 0  # how many of `parts` went out as input_json_delta
        self.sent = False  # a non-blank fragment went out; otherwise the stop is preceded by "{}"
        self.done = False  # replaced under its upstream index, so no fragment can reach it any more
        self.closed = False

    def complete(self) -> bool:
        """True when no more arguments can reach this call (replaced, or the buffer is a whole JSON value)."""
        if self.done:
            return True
        # cheap test before joining and parsing: arguments are a JSON object
        if not self.parts or not self.parts[-1].rstrip().endswith("}"):
            return False
        try:
            msgspec.json.decode("".join(self.parts))
        except msgspec.DecodeError:
            return False
        return True


class OpenAIStreamTranslator:
    """Feed OpenAI chunks, get Anthropic events; call finish() on `data: [DONE]` or on EOF."""

    def __init__(self, *, model: str, message_id: str | None = None, input_tokens: int = 0) -> None:
        self._model = model
        self._message_id = message_id
        self._input_tokens = input_tokens
        self._out = EventWriter()
        self._open_tool: _Tool | None = None
        self._tools: dict[int, _Tool] = {}  # upstream tool index -> the latest call under it
        self._pending: deque[_Tool] = deque()  # calls waiting for a block, in arrival order
        self._finish: str | None = None
        self._refused = False
        self._usage: o.CompletionUsage | None = None

    def feed(self, chunk: o.ChatCompletionChunk) -> list[a.StreamEvent]:
        """The events this chunk produces (maybe none). finish_reason is stored: usage may still follow."""
        if self._out.finished:
            return []
        if not self._out.started:
            self._start(chunk.id, chunk.usage)
        if isinstance(chunk.usage, o.CompletionUsage):
            self._usage = chunk.usage
        for choice in chunk.choices:
            if choice.index == 0:  # n > 1 has no Anthropic equivalent: translate the first choice only
                self._choice(choice)
        return self._out.take()

    def finish(self) -> list[a.StreamEvent]:
        """Close every block, then message_delta and message_stop. Idempotent: a second call returns []."""
        if self._out.finished:
            return []
        if not self._out.started:
            self._start("", None)
        self._flush_tools()
        self._close()
        finish = self._finish
        if self._refused and finish in (None, "stop"):
            finish = "content_filter"
        stop_reason = stop_reason_from_finish(finish, has_tool_calls=self._out.tool_blocks > 0)
        usage = usage_from_openai(self._usage) if self._usage else a.Usage(input_tokens=self._input_tokens)
        self._out.end(stop_reason, delta_usage(usage))
        return self._out.take()

    # --- per chunk ------------------------------------------------------------------------------------------

    def _start(self, chunk_id: str, usage: o.CompletionUsage | msgspec.UnsetType | None) -> None:
        if isinstance(usage, o.CompletionUsage):  # some servers report prompt tokens from the first chunk on
            start_usage = usage_from_openai(usage)
        else:
            start_usage = a.Usage(input_tokens=self._input_tokens)
        self._out.start(self._message_id or chunk_id or new_message_id(), self._model, start_usage)

    def _choice(self, choice: o.ChunkChoice) -> None:
        delta = choice.delta
        # vLLM sends the same text as both reasoning_content and reasoning: take one, never both
        reasoning = _str(delta.reasoning_content) or _str(delta.reasoning)
        if reasoning:
            self._content("thinking", reasoning)
        text = _str(delta.content)
        refusal = _str(delta.refusal)
        if refusal:  # Anthropic has no refusal field: it is text, and the turn ends in stop_reason refusal
            self._refused = True
            text += refusal
        if text:
            self._content("text", text)
        if isinstance(delta.tool_calls, list):
            for call in delta.tool_calls:
                self._tool_call(call)
            self._advance()
        if choice.finish_reason:
            self._finish = choice.finish_reason

    def _content(self, kind: str, text: str) -> None:
        """Text or thinking: tool calls waiting go out first, then the block of this kind continues or starts."""
        if self._out.open_kind != kind:
            self._flush_tools()
            self._close()
        if kind == "text":
            self._out.text(text)
        else:
            self._out.thinking(text)

    def _tool_call(self, call: o.ToolCallDelta) -> None:
        function = call.function
        name = _str(function.name) if isinstance(function, o.FunctionCall) else ""
        arguments = _str(function.arguments) if isinstance(function, o.FunctionCall) else ""
        upstream_id = call.id if isinstance(call.id, str) and call.id else None
        index = self._index_of(call, upstream_id)
        tool = self._tools.get(index)
        if tool is None or (upstream_id and tool.upstream_id and upstream_id != tool.upstream_id):
            # A new index, or a new id under a reused one (Gemini repeats index 0): a new call
            if tool is not None:
                tool.done = True
            tool = _Tool(upstream_id)
            self._tools[index] = tool
            self._pending.append(tool)
        if name and not tool.name:  # later names are repeats (some servers resend it), never a suffix
            tool.name = name
        if arguments and not tool.closed:  # a closed block cannot take more; nothing valid to do with it
            tool.parts.append(arguments)
            if tool is self._open_tool:
                self._send_arguments(tool)

    def _index_of(self, call: o.ToolCallDelta, upstream_id: str | None) -> int:
        """Servers that leave out `index`: a fragment with an id is a new call, without one the latest call's."""
        if isinstance(call.index, int):
            return call.index
        latest = max(self._tools, default=-1)
        return latest + 1 if upstream_id or latest < 0 else latest

    def _advance(self) -> None:
        """Start waiting calls, in order, while the open tool block (if any) can no longer grow."""
        while self._pending and self._pending[0].name:
            if self._open_tool is not None and not self._open_tool.complete():
                return
            self._start_tool(self._pending.popleft())

    # --- tool blocks ----------------------------------------------------------------------------------------

    def _start_tool(self, tool: _Tool) -> None:
        self._close()
        self._out.block(a.ContentBlock(type="tool_use", id=tool.id, name=tool.name, input=_EMPTY_INPUT))
        self._open_tool = tool
        self._send_arguments(tool)

    def _send_arguments(self, tool: _Tool) -> None:
        if tool.emitted == len(tool.parts):
            return
        fragment = "".join(tool.parts[tool.emitted :])
        tool.emitted = len(tool.parts)
        if not tool.sent and fragment.strip():
            tool.sent = True
        self._out.delta(a.Delta(type="input_json_delta", partial_json=fragment))

    def _flush_tools(self) -> None:
        """Emit every waiting call now (text follows, or the stream ends); the last one is left open."""
        while self._pending:
            self._start_tool(self._pending.popleft())

    def _close(self) -> None:
        """Close the open block; a tool's that got no arguments ("", a tool without parameters) gets "{}"."""
        if self._out.open_kind is None:
            return
        tool = self._open_tool
        if tool is not None:
            if not tool.sent:
                self._out.delta(a.Delta(type="input_json_delta", partial_json="{}"))
            tool.closed = True
            self._open_tool = None
        self._out.close()
