"""OpenAI tools, tool_choice and parallel_tool_calls -> Anthropic tools and tool_choice (O->A requests)."""

from __future__ import annotations

import msgspec
from msgspec import UNSET, UnsetType

from ..errors import InvalidRequest
from ..schemas import anthropic as a
from ..schemas import openai as o
from ._parts_to_anthropic import cache_control
from .common import OBJECT_DECODER

# Anthropic requires input_schema.type == "object"; OpenAI lets a function omit its parameters.
EMPTY_SCHEMA = msgspec.Raw(b'{"type":"object","properties":{}}')
_OBJECT_TYPE = msgspec.Raw(b'"object"')
CHOICE_BY_WORD = {"auto": "auto", "required": "any", "none": "none"}
CHOICE_BY_MODE = {"auto": "auto", "required": "any"}


class _AllowedTool(msgspec.Struct):
    """An allowed_tools entry: {"type":"function","function":{"name"}} (or a bare {"name"})."""

    function: o.NamedFunction | UnsetType = UNSET
    name: str | UnsetType = UNSET


_ALLOWED_TOOL_DECODER = msgspec.json.Decoder(_AllowedTool)


def tool_choice_and_tools(req: o.ChatRequest) -> tuple[list[a.Tool], a.ToolChoice | UnsetType]:
    """Tools and their tool_choice; without tools there is no tool_choice (it would be rejected)."""
    tools = [_tool(tool, f"tools[{i}]") for i, tool in enumerate(req.tools or [])]
    choice = req.tool_choice
    result: a.ToolChoice | UnsetType = UNSET
    if isinstance(choice, str):
        if choice not in CHOICE_BY_WORD:
            raise InvalidRequest(f"unsupported tool_choice {choice!r}", param="tool_choice")
        result = a.ToolChoice(type=CHOICE_BY_WORD[choice])
    elif isinstance(choice, o.ToolChoiceObject):
        tools, result = _choice_object(choice, tools)
    if req.parallel_tool_calls is False:
        result = _no_parallel(result)
    return (tools, result) if tools else ([], UNSET)


def _tool(tool: o.ToolDef, path: str) -> a.Tool:
    if tool.type != "function":
        raise InvalidRequest(f"{tool.type!r} tools cannot be translated; only function tools", param=path + ".type")
    fn = tool.function
    if isinstance(fn, UnsetType):
        raise InvalidRequest("function tools need a `function` object", param=path + ".function")
    return a.Tool(
        name=fn.name,
        description=fn.description,
        input_schema=_input_schema(fn.parameters, path + ".function.parameters"),
        strict=fn.strict if isinstance(fn.strict, bool) else UNSET,
        cache_control=cache_control(tool.cache_control),
    )


def _input_schema(parameters: msgspec.Raw | UnsetType, path: str) -> msgspec.Raw:
    if isinstance(parameters, UnsetType) or bytes(parameters).strip() == b"null":
        return EMPTY_SCHEMA
    try:
        fields = OBJECT_DECODER.decode(parameters)
    except (msgspec.DecodeError, RecursionError):
        raise InvalidRequest("function parameters must be a JSON Schema object", param=path) from None
    if "type" in fields:
        return parameters
    return msgspec.Raw(a.ENCODER.encode({"type": _OBJECT_TYPE, **fields}))  # `{}` means "no parameters"


def _choice_object(choice: o.ToolChoiceObject, tools: list[a.Tool]) -> tuple[list[a.Tool], a.ToolChoice]:
    if choice.type == "function":
        if isinstance(choice.function, UnsetType):
            raise InvalidRequest("tool_choice needs a function name", param="tool_choice.function")
        return tools, a.ToolChoice(type="tool", name=choice.function.name)
    if choice.type != "allowed_tools":
        raise InvalidRequest(f"unsupported tool_choice type {choice.type!r}", param="tool_choice.type")
    allowed = choice.allowed_tools
    if isinstance(allowed, UnsetType):
        raise InvalidRequest("allowed_tools tool_choice needs `allowed_tools`", param="tool_choice.allowed_tools")
    if allowed.mode not in CHOICE_BY_MODE:
        raise InvalidRequest(f"unsupported allowed_tools mode {allowed.mode!r}", param="tool_choice.allowed_tools.mode")
    names = {_allowed_name(raw, f"tool_choice.allowed_tools.tools[{k}]") for k, raw in enumerate(allowed.tools)}
    kept = [tool for tool in tools if tool.name in names]
    if not kept:
        raise InvalidRequest("allowed_tools names none of the request's tools", param="tool_choice.allowed_tools.tools")
    return kept, a.ToolChoice(type=CHOICE_BY_MODE[allowed.mode])


def _allowed_name(raw: msgspec.Raw, path: str) -> str:
    try:
        entry = _ALLOWED_TOOL_DECODER.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        raise InvalidRequest("allowed_tools entries must be tool objects", param=path) from None
    if not isinstance(entry.function, UnsetType):
        return entry.function.name
    if isinstance(entry.name, str):
        return entry.name
    raise InvalidRequest("allowed_tools entries need a function name", param=path + ".function.name")


def _no_parallel(choice: a.ToolChoice | UnsetType) -> a.ToolChoice | UnsetType:
    """parallel_tool_calls=false; tool_choice "none" has no such flag (nor any parallel calls to stop)."""
    if isinstance(choice, UnsetType):
        return a.ToolChoice(type="auto", disable_parallel_tool_use=True)
    if choice.type == "none":
        return choice
    return msgspec.structs.replace(choice, disable_parallel_tool_use=True)
