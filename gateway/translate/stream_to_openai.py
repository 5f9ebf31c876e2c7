"""Canonical Anthropic stream events -> OpenAI `chat.completion.chunk` SSE frames (api-spec.md section 6.2).

Used by the OpenAI dialect. The openai SDK accumulates deltas by concatenating strings, so `role` goes only in
the first chunk and a tool call's `id`, `type` and `name` only in its first fragment; tool indices count tool
calls, not Anthropic blocks.

This runs once per upstream event, so the prefix every chunk shares (id, object, created, model) is built once
per stream; per event only the `delta` object is encoded, into a reused buffer right after that prefix.
"""

from __future__ import annotations

import msgspec

from ..schemas import anthropic as a
from ..schemas import openai as o
from ..streaming import UsageTracker
from . import common

_DONE = b"data: [DONE]\n\n"


class ChatChunkEncoder:
    """Feed canonical events; get complete `data: ...` frames (possibly none) to write as they come."""

    def __init__(self, *, model: str, include_usage: bool, created: int) -> None:
        self._model = model
        self._include_usage = include_usage
        self._created = created
        self._id = ""
        self._buf = bytearray()  # holds the shared prefix; each delta is encoded after it
        self._prefix_len = 0
        # with include_usage, OpenAI sends "usage": null on every chunk but the last
        self._tail = b',"usage":null}\n\n' if include_usage else b"}\n\n"
        self._suffix = b',"finish_reason":null}]' + self._tail
        self._started = False
        self._finished = False  # a finish_reason chunk went out
        self._closed = False  # [DONE] or an error went out: nothing may follow
        self._tool_of_block: dict[int, int] = {}  # Anthropic block index -> OpenAI tool call index
        self._usage = UsageTracker()

    def feed(self, event: a.StreamEvent) -> bytes:
        if self._closed:
            return b""
        if isinstance(event, a.ContentBlockDelta) and self._started:  # the hot path first
            return self._delta(event)
        if isinstance(event, a.MessageStart):
            return self._start(event)
        if self._started or isinstance(event, (a.StreamError, a.Ping)):
            return self._other(event)
        # no message_start came first (a malformed upstream): the client still needs its role chunk
        return self._begin(common.new_completion_id()) + self._other(event)

    def error(self, kind: str, message: str) -> bytes:
        """The terminal error frame; the OpenAI SDK raises APIError on it. Nothing is sent after it."""
        if self._closed:
            return b""
        self._closed = True
        body = o.ErrorResponse(error=o.ErrorObject(message=message, type=kind))
        return b"data: " + o.ENCODER.encode(body) + b"\n\n"

    # --- events ---------------------------------------------------------------------------------------------

    def _start(self, event: a.MessageStart) -> bytes:
        if self._started:  # a repeated role would accumulate into "assistantassistant"
            return b""
        self._usage.feed(event)
        return self._begin(event.message.id)

    def _other(self, event: a.StreamEvent) -> bytes:
        if isinstance(event, a.ContentBlockDelta):
            return self._delta(event)
        if isinstance(event, a.ContentBlockStart):
            return self._block_start(event)
        if isinstance(event, a.MessageDelta):
            self._usage.feed(event)
            return self._finish(common.finish_from_stop_reason(event.delta.stop_reason))
        if isinstance(event, a.MessageStop):
            return self._stop()
        if isinstance(event, a.StreamError):  # in OpenAI's words, as the gateway's own errors are
            return self.error(
                common.OPENAI_ERRORS.get(event.error.type, ("server_error", None))[0], event.error.message
            )
        return b""  # ping and content_block_stop have no OpenAI counterpart

    def _begin(self, message_id: str) -> bytes:
        self._started = True
        self._id = common.completion_id_for(message_id)
        prefix = b"".join(
            (
                b'data: {"id":',
                o.ENCODER.encode(self._id),
                b',"object":"chat.completion.chunk","created":',
                str(self._created).encode(),
                b',"model":',
                o.ENCODER.encode(self._model),
                b',"choices":[{"index":0,"delta":',
            )
        )
        self._buf = bytearray(prefix)
        self._prefix_len = len(prefix)
        return self._frame(o.ChoiceDelta(role="assistant", content=""))

    def _delta(self, event: a.ContentBlockDelta) -> bytes:
        delta = event.delta
        kind = delta.type
        if kind == "text_delta":
            if delta.text:
                return self._frame(o.ChoiceDelta(content=delta.text))
        elif kind == "input_json_delta":
            tool = self._tool_of_block.get(event.index)  # None for server tools: they are not client calls
            if tool is not None and delta.partial_json:
                function = o.FunctionCall(arguments=delta.partial_json)
                return self._frame(o.ChoiceDelta(tool_calls=[o.ToolCallDelta(index=tool, function=function)]))
        elif kind == "thinking_delta" and delta.thinking:
            return self._frame(o.ChoiceDelta(reasoning_content=delta.thinking))
        return b""  # signature_delta, citations_delta, empty fragments

    def _block_start(self, event: a.ContentBlockStart) -> bytes:
        block = event.content_block
        if block.type == "tool_use":
            tool = len(self._tool_of_block)
            self._tool_of_block[event.index] = tool
            call_id = block.id if isinstance(block.id, str) else common.new_tool_use_id()
            name = block.name if isinstance(block.name, str) else ""
            function = o.FunctionCall(name=name, arguments=_initial_arguments(block.input))
            call = o.ToolCallDelta(index=tool, id=call_id, type="function", function=function)
            return self._frame(o.ChoiceDelta(tool_calls=[call]))
        # Anthropic opens text and thinking empty; a replayed stream may not
        if block.type == "text" and block.text:
            return self._frame(o.ChoiceDelta(content=block.text))
        if block.type == "thinking" and block.thinking:
            return self._frame(o.ChoiceDelta(reasoning_content=block.thinking))
        return b""

    def _finish(self, finish_reason: str) -> bytes:
        if self._finished:
            return b""
        self._finished = True
        suffix = b',"finish_reason":' + o.ENCODER.encode(finish_reason) + b"}]" + self._tail
        return self._frame(o.ChoiceDelta(), suffix)

    def _stop(self) -> bytes:
        out = self._finish("stop")  # only if message_delta never came: the client still needs a finish_reason
        if self._include_usage:
            usage = common.usage_to_openai(self._usage.usage)
            chunk = o.ChatCompletionChunk(
                id=self._id, created=self._created, model=self._model, choices=[], usage=usage
            )
            out += b"data: " + o.ENCODER.encode(chunk) + b"\n\n"
        self._closed = True
        return out + _DONE

    def _frame(self, delta: o.ChoiceDelta, suffix: bytes | None = None) -> bytes:
        buf = self._buf
        o.ENCODER.encode_into(delta, buf, self._prefix_len)  # truncates the previous delta, keeps the prefix
        buf += self._suffix if suffix is None else suffix
        return bytes(buf)


def _initial_arguments(tool_input: msgspec.Raw | msgspec.UnsetType) -> str:
    """Anthropic streams input as deltas after an empty `{}`; a replayed block may carry it whole instead."""
    if isinstance(tool_input, msgspec.Raw) and msgspec.json.decode(tool_input):
        return bytes(tool_input).decode()
    return ""
