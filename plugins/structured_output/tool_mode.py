"""`tool` mode: structured output emulated with one forced tool whose input schema is the requested schema.

For upstreams with tool calling but no structured-output field (Claude 3.x, self-hosted OpenAI-compatible servers,
OpenAI models with a schema strict mode refuses). The request gets a synthetic tool and a tool_choice that forces
it; the answer's call to that tool becomes an ordinary text answer (its input JSON as the text, `end_turn`), so the
client never sees the tool. Pure functions over the canonical (Anthropic) types, plus `ToolStream`, one per
streamed call, which does the same to the events as they pass.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec
from msgspec import UNSET, Raw, Struct, UnsetType
from msgspec.structs import replace

from gateway.api import anthropic as a

TOOL = "bf_structured_output"
TOOL_DESCRIPTION = (
    "Give your final answer by calling this tool: its input is the answer, in exactly the structure requested."
)
# Anthropic refuses a forced tool_choice while thinking is on, so the model is told instead.
THINKING_INSTRUCTION = "Give your final answer by calling the {name} tool, with no text before or after the call."
# Anthropic (and so the canonical form) takes only object schemas as tool inputs: anything else is wrapped.
_DEFS_KEYS = ("$defs", "definitions")  # hoisted to the wrapper, where the schema's "#/$defs/..." refs point
_SCHEMA_DECODER = msgspec.json.Decoder(dict[str, Raw] | bool)
_OBJECT = Raw(b'"object"')
JSON_OBJECT_SCHEMA = Raw(b'{"type":"object"}')  # OpenAI's json_object in tool mode: any object will do


class ToolPlan(Struct, frozen=True, kw_only=True):
    """How a call's structured output was put into a tool: what the answer side needs to undo it."""

    name: str  # the synthetic tool's name (TOOL, suffixed when a client tool has that name)
    wrapped: bool = False  # the schema's root is not an object: the answer is the input's "value"
    forced: bool = True  # tool_choice forces a tool; False with thinking on (auto plus a system instruction)


class _Wrapped(Struct):
    value: Raw | UnsetType = UNSET


_WRAPPED_DECODER = msgspec.json.Decoder(_Wrapped)
_BlockEvent = a.ContentBlockStart | a.ContentBlockDelta | a.ContentBlockStop


def to_tool_mode(
    request: a.MessagesRequest, schema: Raw, *, strict: bool = False
) -> tuple[a.MessagesRequest, ToolPlan]:
    """The request with the synthetic tool added and forced, and its output format removed (effort kept).

    `strict` marks the tool strict (for upstreams whose strict mode takes this schema). A client that forces a
    tool of its own keeps its tool_choice: that turn is not the final answer, and the answer side passes it on.
    """
    client_tools = request.tools if isinstance(request.tools, list) else []
    name = _free_name({tool.name for tool in client_tools})
    input_schema, wrapped = tool_input_schema(schema)
    tool = a.Tool(name=name, description=TOOL_DESCRIPTION, input_schema=input_schema, strict=True if strict else UNSET)
    thinking = isinstance(request.thinking, a.Thinking) and request.thinking.type != "disabled"
    choice = _tool_choice(request.tool_choice, name, has_client_tools=bool(client_tools), thinking=thinking)
    out = replace(without_output_format(request), tools=[*client_tools, tool], tool_choice=choice)
    if thinking:
        out = with_system_text(out, THINKING_INSTRUCTION.format(name=name))
    return out, ToolPlan(name=name, wrapped=wrapped, forced=choice.type in ("any", "tool"))


def tool_input_schema(schema: Raw) -> tuple[Raw, bool]:
    """The schema as a tool input schema, and whether it had to be wrapped (a root that is not an object becomes
    {"type":"object","properties":{"value":S},"required":["value"]}; its $defs move up with it)."""
    try:
        decoded: dict[str, Raw] | bool | Raw = _SCHEMA_DECODER.decode(schema)
    except msgspec.ValidationError:  # not a schema (the schema check refuses it first): the upstream may say so
        decoded = schema
    if isinstance(decoded, dict) and "type" in decoded and bytes(decoded["type"]) == bytes(_OBJECT):
        return schema, False
    inner: object = decoded
    wrapper: dict[str, object] = {"type": "object"}
    if isinstance(decoded, dict):
        inner = {key: value for key, value in decoded.items() if key not in _DEFS_KEYS}
        wrapper.update({key: decoded[key] for key in _DEFS_KEYS if key in decoded})
    wrapper.update(properties={"value": inner}, required=["value"], additionalProperties=False)
    return Raw(msgspec.json.encode(wrapper)), True


def without_output_format(request: a.MessagesRequest) -> a.MessagesRequest:
    """The request without output_config.format and the beta output_format; output_config.effort stays."""
    config = request.output_config
    kept = replace(config, format=UNSET) if isinstance(config, a.OutputConfig) and config.effort else UNSET
    return replace(request, output_config=kept, output_format=UNSET)


def with_system_text(request: a.MessagesRequest, text: str) -> a.MessagesRequest:
    """The request with `text` after the client's system prompt. A list stays a list, its cache markers where
    they were, so the cached prefix is unchanged; a string gets the text on a new paragraph."""
    system = request.system
    if isinstance(system, list):
        return replace(request, system=[*system, a.ContentBlock(type="text", text=text)])
    if isinstance(system, str) and system.strip():
        return replace(request, system=f"{system}\n\n{text}")
    return replace(request, system=text)


def answer_from_tool(message: a.Message, plan: ToolPlan) -> a.Message | None:
    """The answer with the synthetic tool's call as a text block (its input JSON, the `value` of a wrapped one);
    None when the model did not call it (plain text, or only a client tool: the caller decides).

    Text beside the call is dropped (the client asked for JSON only; an SDK's parse would fail on prose), and so
    are further calls of the tool. A client tool called alongside stays, with stop_reason tool_use: the client
    has a tool to run. Otherwise tool_use becomes end_turn; max_tokens and the like stay as they were.
    """
    if not any(_is_answer(block, plan) for block in message.content):
        return None
    content: list[a.ContentBlock] = []
    answered = client_tool = False
    for block in message.content:
        if _is_answer(block, plan):
            if not answered:
                content.append(a.ContentBlock(type="text", text=answer_text(_input_text(block), plan)))
            answered = True
        elif block.type != "text":
            client_tool = client_tool or block.type == "tool_use"
            content.append(block)
    return replace(message, content=content, stop_reason=_stop_reason(message.stop_reason, client_tool))


def answer_text(input_json: str, plan: ToolPlan) -> str:
    """The answer a tool input stands for: itself, or the exact text of its `value` when the schema was wrapped.
    Input that is not the wrapper comes back whole, so validation names what is wrong with it."""
    if not plan.wrapped:
        return input_json
    try:
        value = _WRAPPED_DECODER.decode(input_json).value
    except msgspec.DecodeError:
        return input_json
    return bytes(value).decode() if isinstance(value, Raw) else input_json


def _free_name(taken: set[str]) -> str:
    if TOOL not in taken:
        return TOOL
    return next(f"{TOOL}_{n}" for n in range(1, len(taken) + 2) if f"{TOOL}_{n}" not in taken)


def _tool_choice(
    client: a.ToolChoice | UnsetType, name: str, *, has_client_tools: bool, thinking: bool
) -> a.ToolChoice:
    parallel = client.disable_parallel_tool_use if isinstance(client, a.ToolChoice) else UNSET
    if isinstance(client, a.ToolChoice) and client.type == "tool" and has_client_tools:
        return client
    if thinking:
        return a.ToolChoice(type="auto", disable_parallel_tool_use=parallel)
    if has_client_tools and not (isinstance(client, a.ToolChoice) and client.type == "none"):
        # "any": the model may still call the client's tools; a call of ours is the final answer.
        return a.ToolChoice(type="any", disable_parallel_tool_use=parallel)
    return a.ToolChoice(type="tool", name=name, disable_parallel_tool_use=parallel)


def _is_answer(block: a.ContentBlock, plan: ToolPlan) -> bool:
    return block.type == "tool_use" and block.name == plan.name


def _input_text(block: a.ContentBlock) -> str:
    return bytes(block.input).decode() if isinstance(block.input, Raw) else "{}"


def _stop_reason(stop_reason: str | None, client_tool: bool) -> str | None:
    return "end_turn" if stop_reason == "tool_use" and not client_tool else stop_reason


class ToolStream:
    """One streamed call's tool-mode rewrite: the synthetic tool's block goes out as a text block whose deltas
    are the input JSON fragments as they come (the client sees the JSON grow as text), and tool_use becomes
    end_turn as in `answer_from_tool`. `text` is the answer to validate once the stream has ended.

    Text blocks before the call are held back and dropped when the call comes (the same rule as the non-stream
    answer), so a model that answers in text instead (thinking on, a server ignoring tool_choice) has its text
    sent only when the message ends. A wrapped schema's fragments are held too: its `value` is sent whole when
    the block stops. Blocks kept are renumbered, so the client's indices stay contiguous.
    """

    def __init__(self, plan: ToolPlan) -> None:
        self.plan = plan
        self.called = False  # the synthetic tool was called
        self.client_tool = False  # a client tool's call went out
        self._out: dict[int, int] = {}  # upstream block index -> the client's
        self._next = 0
        self._held: dict[int, list[_BlockEvent]] = {}  # text blocks waiting to know whether the call comes
        self._dropped: set[int] = set()
        self._answer: int | None = None  # upstream index of the call's block
        self._parts: list[str] = []  # the call's input JSON fragments
        self._texts: list[str] = []  # text of text blocks: the answer if the tool is never called
        self._value: str | None = None  # a wrapped answer's value, once its block has stopped
        self._start_input = ""  # the input the call's block started with: the answer if no fragment follows

    @property
    def text(self) -> str:
        """The answer so far: the call's JSON (its `value` when wrapped), else the text blocks' text."""
        if not self.called:
            return "".join(self._texts)
        joined = "".join(self._parts)
        return self._value if self._value is not None else answer_text(joined, self.plan)

    def events(self, events: Iterable[a.StreamEvent]) -> tuple[a.StreamEvent, ...]:
        """The events to send for these upstream events (maybe fewer, maybe none)."""
        out: list[a.StreamEvent] = []
        for event in events:
            if isinstance(event, a.ContentBlockStart):
                self._start(event, out)
            elif isinstance(event, (a.ContentBlockDelta, a.ContentBlockStop)):
                self._in_block(event, out)
            elif isinstance(event, a.MessageDelta):
                self._flush(out)
                out.append(self._message_delta(event))
            else:
                if isinstance(event, (a.MessageStop, a.StreamError)):
                    self._flush(out)
                out.append(event)
        return tuple(out)

    def _message_delta(self, event: a.MessageDelta) -> a.MessageDelta:
        if not self.called or event.delta.stop_reason != "tool_use" or self.client_tool:
            return event
        return replace(event, delta=replace(event.delta, stop_reason="end_turn"))

    def _start(self, event: a.ContentBlockStart, out: list[a.StreamEvent]) -> None:
        block = event.content_block
        if _is_answer(block, self.plan) and not self.called:
            self.called, self._answer = True, event.index
            self._start_input = _input_text(block)
            self._dropped.update(self._held)  # prose before the call: not part of the answer
            self._held.clear()
            text_block = a.ContentBlock(type="text", text="")
            out.append(a.ContentBlockStart(index=self._assign(event.index), content_block=text_block))
        elif self.called and (block.type == "text" or _is_answer(block, self.plan)):
            self._dropped.add(event.index)
        elif block.type == "text":
            self._held[event.index] = [event]
        else:
            self._flush(out)
            self.client_tool = self.client_tool or block.type == "tool_use"
            out.append(replace(event, index=self._assign(event.index)))

    def _in_block(self, event: a.ContentBlockDelta | a.ContentBlockStop, out: list[a.StreamEvent]) -> None:
        index = event.index
        if isinstance(event, a.ContentBlockDelta) and isinstance(event.delta.text, str):
            self._texts.append(event.delta.text)
        if index in self._held:
            self._held[index].append(event)
        elif index == self._answer:
            self._answer_event(event, out)
        elif index not in self._dropped:
            out.append(replace(event, index=self._out.get(index, index)))

    def _answer_event(self, event: a.ContentBlockDelta | a.ContentBlockStop, out: list[a.StreamEvent]) -> None:
        index = self._out[event.index]
        if isinstance(event, a.ContentBlockDelta):
            piece = event.delta.partial_json
            if isinstance(piece, str) and piece:
                self._parts.append(piece)
                if not self.plan.wrapped:
                    out.append(a.ContentBlockDelta(index=index, delta=a.Delta(type="text_delta", text=piece)))
            return
        if not self._parts and self._start_input:  # an input with nothing to stream (an empty object)
            self._parts.append(self._start_input)
            if not self.plan.wrapped:
                out.append(a.ContentBlockDelta(index=index, delta=a.Delta(type="text_delta", text=self._start_input)))
        if self.plan.wrapped:
            self._value = answer_text("".join(self._parts), self.plan)
            if self._value:
                out.append(a.ContentBlockDelta(index=index, delta=a.Delta(type="text_delta", text=self._value)))
        out.append(a.ContentBlockStop(index=index))

    def _flush(self, out: list[a.StreamEvent]) -> None:
        """Send the held text blocks: no call came before something else did."""
        for upstream, held in self._held.items():
            index = self._assign(upstream)
            out.extend(replace(event, index=index) for event in held)
        self._held.clear()

    def _assign(self, upstream: int) -> int:
        self._out[upstream], self._next = self._next, self._next + 1
        return self._out[upstream]
