"""`prompt` mode and repair turns: structured output asked for in words, and the answer's Markdown fences removed.

Prompt mode is for servers with neither a structured-output field nor tool calling: the schema goes into the
system prompt, and the answer is validated like any other. Models asked for JSON in words often wrap it in a
```json fence anyway; `strip_fences` (and `FenceStripper`, its streaming form) removes one around the whole answer
and nothing else, since prose around JSON is a wrong answer to repair, not to guess at; `PromptStream` applies it
to a stream's text blocks. `repair_messages` builds the turn a repair call adds: the invalid answer and what the
validator said about it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import msgspec
from msgspec import Raw, UnsetType
from msgspec.structs import replace

from gateway.api import anthropic as a
from gateway.api import new_tool_use_id

from .tool_mode import ToolPlan, with_system_text, without_output_format

SCHEMA_INSTRUCTION = (
    "Respond with only a JSON value that validates against the JSON Schema below, and nothing else: no prose and no "
    "Markdown code fences.\nJSON Schema: "
)
# Word for word what the OpenAI dialect adds for response_format json_object, so it is not said twice.
JSON_OBJECT_INSTRUCTION = (
    "Respond with a single valid JSON object and nothing else: no prose and no Markdown code fences."
)
REPAIR_TEXT = (
    "Your previous answer did not match the required JSON structure: {error}. Answer again with only the "
    "corrected JSON, and nothing else."
)
REPAIR_TOOL = "The input did not match the tool's schema: {error}. Call {name} again with the corrected input."
MAX_ERROR_CHARS = 1000  # a validator's message can quote a whole (large) instance; the model needs the start
EMPTY_ANSWER = "(an empty answer)"  # Anthropic refuses an empty text block in a turn

# An opening fence: ``` and an optional language tag, alone on the first line.
_OPEN = re.compile(r"```[A-Za-z0-9_+-]{0,16}[ \t]{0,8}\r?\n")
_OPEN_PREFIX = re.compile(r"`{0,2}|```[A-Za-z0-9_+-]{0,16}[ \t]{0,8}\r?")  # what can still become _OPEN
_CLOSE = re.compile(r"\s*```\s*")


def to_prompt_mode(request: a.MessagesRequest, schema: Raw | None, json_object: bool = False) -> a.MessagesRequest:
    """The request with the schema (compact JSON) in a system instruction after the client's system prompt, and
    its output format removed (effort kept). `json_object` asks for any JSON object instead (no schema)."""
    if json_object or schema is None:
        instruction = JSON_OBJECT_INSTRUCTION
    else:
        instruction = SCHEMA_INSTRUCTION + msgspec.json.encode(msgspec.json.decode(schema)).decode()
    out = without_output_format(request)
    return out if _says(out.system, instruction) else with_system_text(out, instruction)


def strip_fences(text: str) -> str:
    """The answer without leading whitespace and without one Markdown code fence around all of it (an opening
    fence that never closes, as when the answer was cut off, is removed alone). Anything else is left as it is."""
    body = text.lstrip()
    opening = _OPEN.match(body)
    if opening is None:
        return body
    body = body[opening.end() :]
    trimmed = body.rstrip()
    return trimmed[:-3].rstrip() if trimmed.endswith("```") else body


class FenceStripper:
    """`strip_fences` for a stream of text deltas: what `feed` and `finish` return, joined, is `strip_fences` of
    the whole text. It holds back only what may still turn out to be a fence: the opening line at the start, and
    inside a fence a tail of whitespace and up to three backticks."""

    def __init__(self) -> None:
        self._start = ""  # the text so far, until it is known whether it opens with a fence
        self._fenced: bool | None = None  # None while that is not known
        self._tail = ""  # inside a fence: the held tail

    def feed(self, piece: str) -> str:
        """The text to send now for this piece (maybe "")."""
        if self._fenced is None:
            return self._opening(piece)
        if not self._fenced:
            return piece
        pending = self._tail + piece
        keep = _closing_tail(pending)
        self._tail = pending[len(pending) - keep :]
        return pending[: len(pending) - keep]

    def finish(self) -> str:
        """The rest, at the end of the text: the held tail, unless it is the closing fence."""
        if self._fenced is None:
            rest, self._start, self._fenced = self._start, "", False
            return rest
        tail, self._tail = self._tail, ""
        return "" if self._fenced and _CLOSE.fullmatch(tail) else tail

    def _opening(self, piece: str) -> str:
        start = (self._start + piece).lstrip()
        opening = _OPEN.match(start)
        if opening is not None:
            self._start, self._fenced = "", True
            return self.feed(start[opening.end() :])
        if _OPEN_PREFIX.fullmatch(start):
            self._start = start
            return ""
        self._start, self._fenced = "", False
        return start


class PromptStream:
    """A stream's text blocks with their fences stripped as they pass (prompt mode, and a tool-mode answer given
    as text): each block's deltas go through a FenceStripper, and what it held back goes out just before the
    block stops. Indices are unchanged. `text` is the stripped text so far: the answer to validate at the end."""

    def __init__(self) -> None:
        self._strippers: dict[int, FenceStripper] = {}  # the open text blocks
        self._parts: list[str] = []

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def events(self, events: Iterable[a.StreamEvent]) -> tuple[a.StreamEvent, ...]:
        """The events to send for these upstream events (a delta whose text is all held back is left out)."""
        out: list[a.StreamEvent] = []
        for event in events:
            if isinstance(event, a.ContentBlockStart) and event.content_block.type == "text":
                self._strippers[event.index] = FenceStripper()
            elif isinstance(event, a.ContentBlockDelta) and event.index in self._strippers:
                if isinstance(event.delta.text, str):
                    self._send(event.index, self._strippers[event.index].feed(event.delta.text), out)
                    continue
            elif isinstance(event, a.ContentBlockStop) and event.index in self._strippers:
                self._send(event.index, self._strippers.pop(event.index).finish(), out)
            out.append(event)
        return tuple(out)

    def _send(self, index: int, text: str, out: list[a.StreamEvent]) -> None:
        if text:
            self._parts.append(text)
            out.append(a.ContentBlockDelta(index=index, delta=a.Delta(type="text_delta", text=text)))


def _closing_tail(text: str) -> int:
    """How many characters at the end of `text` may be the start of a closing fence: whitespace, up to three
    backticks, whitespace (with more than three backticks in a row, the last three and what follows them)."""
    i = len(text)
    while i > 0 and text[i - 1].isspace():
        i -= 1
    ticks = 0
    while i > 0 and text[i - 1] == "`" and ticks < 3:
        i, ticks = i - 1, ticks + 1
    while i > 0 and text[i - 1].isspace():  # moves only after backticks: before them is no whitespace left
        i -= 1
    return len(text) - i


def repair_messages(
    request: a.MessagesRequest, invalid_text: str, error_message: str, plan: ToolPlan | None
) -> a.MessagesRequest:
    """The request for a repair call: the conversation plus the invalid answer and a turn saying what is wrong.

    In tool mode the answer goes back as the tool's call and the error as its failed result, which is how models
    are trained to retry a call. That needs the answer to be the tool's input (JSON), and, with thinking on, the
    signed thinking before the call, which the gateway does not keep: otherwise the answer goes back as text.
    """
    error = error_message if len(error_message) <= MAX_ERROR_CHARS else error_message[:MAX_ERROR_CHARS] + "..."
    tool_input = _tool_input(invalid_text, plan) if plan is not None and plan.forced else None
    if plan is not None and tool_input is not None:
        call_id = new_tool_use_id()
        call = a.ContentBlock(type="tool_use", id=call_id, name=plan.name, input=tool_input)
        result = a.ContentBlock(
            type="tool_result",
            tool_use_id=call_id,
            is_error=True,
            content=REPAIR_TOOL.format(error=error, name=plan.name),
        )
        turns = [a.MessageParam(role="assistant", content=[call]), a.MessageParam(role="user", content=[result])]
    else:
        answer = invalid_text if invalid_text.strip() else EMPTY_ANSWER
        turns = [
            a.MessageParam(role="assistant", content=answer),
            a.MessageParam(role="user", content=REPAIR_TEXT.format(error=error)),
        ]
    return replace(request, messages=[*request.messages, *turns])


def _tool_input(invalid_text: str, plan: ToolPlan) -> Raw | None:
    """The tool input that gave `invalid_text` (re-wrapped for a wrapped schema), or None if no input could:
    a tool's input is a JSON object, and a cut-off stream's text is not JSON at all."""
    try:
        value = msgspec.json.decode(invalid_text)
    except msgspec.DecodeError:
        return None
    if plan.wrapped:
        return Raw(msgspec.json.encode({"value": Raw(invalid_text.strip().encode())}))
    return Raw(invalid_text.strip().encode()) if isinstance(value, dict) else None


def _says(system: str | list[a.ContentBlock] | UnsetType, instruction: str) -> bool:
    """The system prompt already holds the instruction (the OpenAI dialect adds the json_object one)."""
    if isinstance(system, str):
        return instruction in system
    if isinstance(system, list):
        return any(isinstance(block.text, str) and instruction in block.text for block in system)
    return False
