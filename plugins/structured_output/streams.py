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
        self._answer_blocks: set[int] = set()  # indices of the text blocks the answer is read from
        self._held: list[a.StreamEvent] = []  # from the answer block's stop to message_delta
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
        out: list[a.StreamEvent] = []
        for event in events:
            if isinstance(event, a.ContentBlockDelta):
                self._delta(event)
            elif isinstance(event, a.ContentBlockStart):
                self._start(event)
            if isinstance(event, a.MessageDelta):
                # Every block has stopped and the stop reason is known: the answer is checked before it goes out.
                problem = self._problem(event.delta.stop_reason)
                if problem is not None:
                    # An invalid answer ends with the error event in place of the rest (the answer block's stop,
                    # message_delta, message_stop); what went before still goes out (the client saw the JSON grow).
                    self._failed = True
                    return Chunk(events=(*out, a.StreamError(error=a.ErrorBody(type="api_error", message=problem))))
                out.extend(self._held)
                self._held.clear()
            elif self._held or (isinstance(event, a.ContentBlockStop) and event.index in self._answer_blocks):
                # The answer block's stop is held until the stop reason comes: an SDK's parse helper (the
                # Anthropic one) reads the JSON at content_block_stop and would fail before the error event.
                self._held.append(event)
                continue
            out.append(event)
        same = events is chunk.events and len(out) == len(events)
        same = same and all(x is y for x, y in zip(out, events, strict=True))
        return chunk if same else Chunk(events=tuple(out))  # an unchanged chunk keeps its relayable frame

    def _start(self, event: a.ContentBlockStart) -> None:
        block, tools = event.content_block, self._contract.tools
        if block.type == "text" and self._contract.checker is not None:
            self._answer_blocks.add(event.index)
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
        if stop != "tool_use":  # tool_use left: a client tool's turn, not the answer
            problem = self._answer_problem(stop)
            if problem is not None:
                return problem
        return self._tool_problem()

    def _answer_problem(self, stop: str | None) -> str | None:
        checker = self._contract.checker
        if checker is None:
            return None
        invalid = checker.check(self._answer_text(), self._contract.shape.adapted)
        if invalid is None:
            return None
        if stop == "max_tokens":
            return "the answer was cut at max_tokens before its JSON was complete"
        return checker.failure_message(invalid.describe(), 1)

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
