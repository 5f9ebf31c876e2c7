"""Canonical Anthropic Messages request -> OpenAI Chat request for OpenAI-compatible upstreams (api-spec 6).

Pure and deterministic. Anything that has no faithful translation raises `InvalidRequest` naming the field.
"""

from __future__ import annotations

from msgspec import UNSET, UnsetType
from msgspec.structs import replace

from gateway.api import InvalidRequest
from gateway.api import anthropic as a
from gateway.api import openai as o

from .chat_blocks import assistant_message, system_content, system_text, user_messages

MAX_TOKENS_FIELDS = ("max_completion_tokens", "max_tokens")
CHOICE_BY_TYPE = {"auto": "auto", "any": "required", "none": "none"}
SERVICE_TIERS = {"standard_only": "default", "auto": "auto"}
ADAPTIVE_EFFORT = "medium"
STRUCTURED_OUTPUT_NAME = "output"  # OpenAI requires a name; Anthropic has none


def messages_to_chat_request(
    req: a.MessagesRequest,
    *,
    model: str,
    max_tokens_field: str = "max_completion_tokens",
    stream: bool = False,
    cache_markers: bool = False,
) -> o.ChatRequest:
    """Translate a canonical request. `model` is the upstream's name; `max_tokens_field` its length field;
    `cache_markers`: the upstream honours `cache_control` on content parts and tools (OpenRouter), so they are
    carried (on text blocks and tools; OpenAI itself refuses the field)."""
    if max_tokens_field not in MAX_TOKENS_FIELDS:
        raise ValueError(f"max_tokens_field must be one of {MAX_TOKENS_FIELDS}, not {max_tokens_field!r}")
    tools = [_tool(tool, f"tools[{i}]", cache_markers) for i, tool in enumerate(req.tools or [])]
    out = o.ChatRequest(
        model=model,
        messages=_messages(req, cache_markers),
        temperature=req.temperature,
        top_p=req.top_p,  # top_k has no OpenAI field: dropped
        stop=req.stop_sequences or UNSET,
        tools=tools or UNSET,
        reasoning_effort=_reasoning_effort(req),
        response_format=_response_format(req),
        user=_user(req.metadata),
        service_tier=SERVICE_TIERS.get(req.service_tier or "", UNSET),
    )
    if tools and not isinstance(req.tool_choice, UnsetType):
        # OpenAI rejects tool_choice and parallel_tool_calls without tools.
        out = replace(out, tool_choice=_tool_choice(req.tool_choice))
        if req.tool_choice.disable_parallel_tool_use is True:
            out = replace(out, parallel_tool_calls=False)
    if isinstance(req.max_tokens, int):
        out = replace(out, **{max_tokens_field: req.max_tokens})
    if stream:
        out = replace(out, stream=True, stream_options=o.StreamOptions(include_usage=True))
    return out


def _messages(req: a.MessagesRequest, markers: bool) -> list[o.ChatMessage]:
    out: list[o.ChatMessage] = []
    if not isinstance(req.system, UnsetType):
        system = system_content(req.system, "system", markers)
        if system:
            out.append(o.ChatMessage(role="system", content=system))
    for i, msg in enumerate(req.messages):
        path = f"messages[{i}]"
        if msg.role == "user":
            out.extend(user_messages(msg.content, path + ".content", markers))
        elif msg.role == "assistant":
            message = assistant_message(msg.content, path + ".content")
            if message is not None:
                out.append(message)
        elif msg.role == "system":  # anthropic 2.14 allows system turns in place
            out.append(o.ChatMessage(role="system", content=system_text(msg.content, path + ".content")))
        else:
            raise InvalidRequest(f"unsupported message role {msg.role!r}", param=path + ".role")
    return out


def _tool(tool: a.Tool, path: str, markers: bool) -> o.ToolDef:
    if isinstance(tool.type, str) and tool.type != "custom":
        # Server tools (web_search, code_execution, ...) run inside Anthropic's API: no OpenAI equivalent.
        raise InvalidRequest(f"tool type {tool.type!r} is not supported by this model", param=path + ".type")
    function = o.FunctionDef(
        name=tool.name, description=tool.description, parameters=tool.input_schema, strict=tool.strict
    )
    marker = tool.cache_control if markers and isinstance(tool.cache_control, a.CacheControl) else None
    if marker is None:
        return o.ToolDef(function=function)
    return o.ToolDef(function=function, cache_control=o.CacheControl(type=marker.type, ttl=marker.ttl))


def _tool_choice(choice: a.ToolChoice) -> str | o.ToolChoiceObject:
    if choice.type == "tool":
        if not isinstance(choice.name, str):
            raise InvalidRequest("tool_choice of type tool needs a name", param="tool_choice.name")
        return o.ToolChoiceObject(type="function", function=o.NamedFunction(name=choice.name))
    if choice.type not in CHOICE_BY_TYPE:
        raise InvalidRequest(f"unsupported tool_choice type {choice.type!r}", param="tool_choice.type")
    return CHOICE_BY_TYPE[choice.type]


def _reasoning_effort(req: a.MessagesRequest) -> str | UnsetType:
    """output_config.effort wins (same words); else thinking: enabled by budget, adaptive -> medium."""
    if not isinstance(req.output_config, UnsetType) and isinstance(req.output_config.effort, str):
        return req.output_config.effort
    thinking = req.thinking
    if isinstance(thinking, UnsetType):
        return UNSET
    if thinking.type == "adaptive":
        return ADAPTIVE_EFFORT
    if thinking.type != "enabled":
        return UNSET
    budget = thinking.budget_tokens if isinstance(thinking.budget_tokens, int) else 0
    return "low" if budget < 4096 else "medium" if budget < 16384 else "high"


def _response_format(req: a.MessagesRequest) -> o.ResponseFormat | UnsetType:
    fmt, path = req.output_format, "output_format"  # the deprecated beta spelling
    if not isinstance(req.output_config, UnsetType) and not isinstance(req.output_config.format, UnsetType):
        fmt, path = req.output_config.format, "output_config.format"
    if isinstance(fmt, UnsetType):
        return UNSET
    if fmt.type != "json_schema":
        raise InvalidRequest(f"unsupported output format type {fmt.type!r}", param=path + ".type")
    if isinstance(fmt.schema, UnsetType):
        raise InvalidRequest("json_schema output formats need a schema", param=path + ".schema")
    schema = o.JsonSchemaFormat(name=STRUCTURED_OUTPUT_NAME, schema=fmt.schema, strict=True)
    return o.ResponseFormat(type="json_schema", json_schema=schema)


def _user(metadata: a.Metadata | UnsetType) -> str | UnsetType:
    if isinstance(metadata, UnsetType) or not isinstance(metadata.user_id, str) or not metadata.user_id:
        return UNSET
    return metadata.user_id
