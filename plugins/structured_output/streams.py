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

from .answers import ATTEMPTS, PASSED_ON, Contract, failure_message, settle
from .prompting import PromptStream
from .tool_mode import ToolStream


class LiveStream:
    def __init__(self, contract: Contract) -> None:
        self._contract = contract
        plan, mode = contract.shape.plan, contract.shape.mode
        self._tool = ToolStream(plan) if plan is not None and contract.checker is not None else None
        self._prompt = PromptStream() if mode == "prompt" and contract.checker is not None else None
        self._text: list[str] = []
        self._inputs: dict[int, tuple[str, list[str]]] = {}  # strict tools' calls: block index -> name, JSON
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
            if isinstance(event, a.ContentBlockDelta):
                self._delta(event)
            elif isinstance(event, a.ContentBlockStart):
                self._start(event)
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

    def _start(self, event: a.ContentBlockStart) -> None:
        block, tools = event.content_block, self._contract.tools
        if block.type == "tool_use" and tools is not None and block.name in tools.schemas:
            assert isinstance(block.name, str)
            self._inputs[event.index] = (block.name, [])

    def _delta(self, event: a.ContentBlockDelta) -> None:
        if isinstance(event.delta.text, str):
            self._text.append(event.delta.text)  # native mode's answer, as it went out
        elif isinstance(event.delta.partial_json, str) and event.index in self._inputs:
            self._inputs[event.index][1].append(event.delta.partial_json)

    def _problem(self, stop: str | None) -> str | None:
        if stop in PASSED_ON:
            return None
        checker = self._contract.checker
        if checker is not None and stop != "tool_use":  # tool_use left: a client tool's turn, not the answer
            invalid = checker.check(self._answer_text(), self._contract.shape.adapted)
            if invalid is not None:
                if stop == "max_tokens":
                    return "the answer was cut at max_tokens before its JSON was complete"
                return checker.failure_message(invalid.describe(), 1)
        return self._tool_problem()

    def _answer_text(self) -> str:
        if self._tool is not None:
            return self._tool.text
        if self._prompt is not None:
            return self._prompt.text
        return "".join(self._text)

    def _tool_problem(self) -> str | None:
        tools = self._contract.tools
        if tools is None:
            return None
        found = {}
        for index, (name, parts) in self._inputs.items():
            invalid = tools.schemas[name].validate_text("".join(parts) or "{}")
            if invalid is not None:
                found[str(index)] = f"tool {name!r} input {invalid.describe()}"
        return failure_message(None, None, found, 1) if found else None


class BufferedStream:
    def __init__(self, contract: Contract, ctx: CallContext) -> None:
        self._contract = contract
        self._ctx = ctx
        self._assembler = MessageAssembler()

    async def __call__(self, call: ChatCall, chunk: Chunk) -> Chunk:
        for event in chunk.events:
            self._assembler.feed(event)
        message = self._assembler.message()
        if message is None:
            return Chunk(events=())  # held back until the answer is whole and valid
        settled = await settle(call, ChatResult(message=message), self._ctx, self._contract)
        return Chunk(events=tuple(message_to_events(settled.message)))


def stream_transform(contract: Contract, ctx: CallContext, buffered: bool) -> LiveStream | BufferedStream:
    if buffered:
        ctx.defer_stream_headers = True
        return BufferedStream(contract, ctx)
    ctx.set_header(ATTEMPTS, "1")
    return LiveStream(contract)
