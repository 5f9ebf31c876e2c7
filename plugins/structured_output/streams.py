"""Streams: the call's own stream transform (`ctx.transform_stream`), so that other calls' streams stay relays.

- `LiveStream` passes deltas on as they come (tool mode: the tool's input JSON as text deltas; prompt mode: a
  code fence around the JSON held back and dropped) and checks the whole text before the stream's end: an invalid
  answer ends the stream with the dialect's error event (a canonical `error` event, which each dialect's encoder
  writes in its own words) instead of `message_delta`/`message_stop` or the finish chunk and `[DONE]`. No repair:
  bytes were sent.
- `BufferedStream` (`buffer_streams: true`) holds every event back, assembles the answer, settles it as a
  non-streamed answer would be (repairs included) and then streams the valid answer whole.
"""

from __future__ import annotations

from gateway import CallContext, ChatCall, ChatResult, Chunk
from gateway.api import MessageAssembler, message_to_events
from gateway.api import anthropic as a

from .answers import ATTEMPTS, PASSED_ON, settle
from .checks import Checker
from .prompting import PromptStream
from .shaping import Shape
from .tool_mode import ToolStream


class LiveStream:
    def __init__(self, checker: Checker, shape: Shape) -> None:
        self._checker = checker
        self._shape = shape
        self._tool = ToolStream(shape.plan) if shape.plan is not None else None
        self._prompt = PromptStream() if shape.mode == "prompt" else None
        self._text: list[str] = []
        self._failed = False

    async def __call__(self, call: ChatCall, chunk: Chunk) -> Chunk:
        if self._failed:
            return Chunk(events=())  # the error event ended the stream: nothing after it
        if not chunk.events:
            return chunk
        events = chunk.events
        if self._tool is not None:
            events = self._tool.events(events)
        elif self._prompt is not None:
            events = self._prompt.events(events)
        for at, event in enumerate(events):
            if isinstance(event, a.ContentBlockDelta) and isinstance(event.delta.text, str):
                self._text.append(event.delta.text)  # native mode's answer, as it went out
            elif isinstance(event, a.MessageDelta):
                # The answer is whole (every block has stopped): checked before the stop reason goes out, so an
                # invalid one ends with the error event in place of message_delta and message_stop. The events
                # before it in this chunk still go out (the client saw the JSON grow; it sees where it stopped).
                problem = self._problem(event.delta.stop_reason)
                if problem is not None:
                    self._failed = True
                    error = a.StreamError(error=a.ErrorBody(type="api_error", message=problem))
                    return Chunk(events=(*events[:at], error))
        return chunk if events is chunk.events else Chunk(events=events)

    def _problem(self, stop: str | None) -> str | None:
        if stop in PASSED_ON or stop == "tool_use":  # a refusal, a client tool's turn
            return None
        if self._tool is not None:
            text = self._tool.text
        elif self._prompt is not None:
            text = self._prompt.text
        else:
            text = "".join(self._text)
        invalid = self._checker.check(text, self._shape.adapted)
        if invalid is None:
            return None
        if stop == "max_tokens":
            return "the answer was cut at max_tokens before its JSON was complete"
        return self._checker.failure_message(invalid.describe(), 1)


class BufferedStream:
    def __init__(self, checker: Checker, shape: Shape, ctx: CallContext) -> None:
        self._checker = checker
        self._shape = shape
        self._ctx = ctx
        self._assembler = MessageAssembler()

    async def __call__(self, call: ChatCall, chunk: Chunk) -> Chunk:
        for event in chunk.events:
            self._assembler.feed(event)
        message = self._assembler.message()
        if message is None:
            return Chunk(events=())  # held back until the answer is whole and valid
        settled = await settle(call, ChatResult(message=message), self._ctx, self._checker, self._shape)
        return Chunk(events=tuple(message_to_events(settled.message)))


def stream_transform(checker: Checker, shape: Shape, ctx: CallContext, buffered: bool) -> LiveStream | BufferedStream:
    if buffered:
        ctx.defer_stream_headers = True
        return BufferedStream(checker, shape, ctx)
    ctx.set_header(ATTEMPTS, "1")
    return LiveStream(checker, shape)
