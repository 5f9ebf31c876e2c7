"""Canonical Anthropic Messages request -> Gemini GenerateContentRequest (and the countTokens body).

Pure and deterministic. Anything without a faithful translation raises `InvalidRequest` naming the field;
what Gemini has no field for and a client cannot miss (metadata, service_tier, cache_control,
disable_parallel_tool_use) is dropped.
"""

from __future__ import annotations

import msgspec
from msgspec import UNSET, UnsetType
from msgspec.structs import replace

from gateway import InvalidRequest
from gateway.api import anthropic as a

from . import signatures
from . import wire as g
from .content import model_parts, user_parts
from .schema import to_gemini_schema

ROLES = {"user": "user", "assistant": "model"}
MODES = {"auto": "AUTO", "any": "ANY", "none": "NONE", "tool": "ANY"}
JSON = "application/json"


def messages_to_gemini(req: a.MessagesRequest, model: str = "") -> g.GenerateContentRequest:
    """Translate a canonical request; the model goes in the URL, not the body (`model` picks the schema field)."""
    system = _system_parts(req.system, "system")
    contents: list[g.Content] = []
    names: dict[str, str] = {}  # tool_use id -> function name, for the tool_results that answer them
    for i, message in enumerate(req.messages):
        path = f"messages[{i}]"
        if message.role == "system":  # a system turn in place: Gemini has one system instruction
            system += _system_parts(message.content, path + ".content")
            continue
        role = ROLES.get(message.role)
        if role is None:
            raise InvalidRequest(f"unsupported message role {message.role!r}", param=path + ".role")
        convert = user_parts if role == "user" else model_parts
        _append(contents, role, convert(message.content, path + ".content", names))
    declarations = [_declaration(tool, f"tools[{i}]") for i, tool in enumerate(req.tools or [])]
    return g.GenerateContentRequest(
        contents=[_with_call_signature(c) for c in contents],
        system_instruction=g.Content(parts=system) if system else UNSET,
        tools=[g.Tool(function_declarations=declarations)] if declarations else UNSET,
        tool_config=_tool_config(req.tool_choice) if declarations else UNSET,
        generation_config=_generation_config(req, model),
    )


def count_tokens_request(req: a.MessagesRequest, *, model: str) -> g.CountTokensRequest:
    """countTokens wraps a whole request so the system instruction and tools are counted too."""
    full = messages_to_gemini(req)
    body = replace(full, model=model_resource(model), generation_config=UNSET)
    return g.CountTokensRequest(generate_content_request=body)


def model_resource(model: str) -> str:
    """A model's resource name: `models/<name>`, or the name as given when it is already one (tunedModels/x)."""
    return model if "/" in model else f"models/{model}"


def _append(contents: list[g.Content], role: str, parts: list[g.Part]) -> None:
    """Merge same-role runs (Gemini wants turns to alternate); a turn without parts is a 400 there."""
    if not parts:
        return
    if contents and contents[-1].role == role:
        contents[-1].parts.extend(parts)
    else:
        contents.append(g.Content(role=role, parts=parts))


def _with_call_signature(content: g.Content) -> g.Content:
    """A model turn whose function calls lost their signature gets Google's stand-in on the first one."""
    calls = [i for i, part in enumerate(content.parts) if not isinstance(part.function_call, UnsetType)]
    if not calls or any(isinstance(content.parts[i].thought_signature, str) for i in calls):
        return content
    parts = list(content.parts)
    parts[calls[0]] = replace(parts[calls[0]], thought_signature=signatures.SKIP_VALIDATOR)
    return replace(content, parts=parts)


def _system_parts(system: str | list[a.ContentBlock] | UnsetType, path: str) -> list[g.Part]:
    if isinstance(system, UnsetType):
        return []
    if isinstance(system, str):
        return [g.Part(text=system)] if system else []
    parts = []
    for j, block in enumerate(system):
        if block.type != "text" or not isinstance(block.text, str):
            raise InvalidRequest(f"system content must be text blocks, got {block.type!r}", param=f"{path}[{j}]")
        if block.text:
            parts.append(g.Part(text=block.text))
    return parts


def _declaration(tool: a.Tool, path: str) -> g.FunctionDeclaration:
    if isinstance(tool.type, str) and tool.type != "custom":
        # Server tools (web_search, code_execution, ...) run inside Anthropic's API.
        raise InvalidRequest(f"tool type {tool.type!r} is not supported by Gemini", param=path + ".type")
    parameters: msgspec.Raw | UnsetType = UNSET
    if isinstance(tool.input_schema, msgspec.Raw):
        schema = _schema(tool.input_schema, path + ".input_schema")
        if schema.get("properties"):  # a function without parameters has none (empty properties: 400)
            parameters = msgspec.Raw(g.ENCODER.encode(schema))
    return g.FunctionDeclaration(name=tool.name, description=tool.description, parameters=parameters)


def _schema(raw: msgspec.Raw, path: str) -> dict[str, object]:
    try:
        return to_gemini_schema(msgspec.json.decode(raw))
    except (msgspec.DecodeError, RecursionError):
        raise InvalidRequest("schema is not valid JSON or is nested too deeply", param=path) from None


def _tool_config(choice: a.ToolChoice | UnsetType) -> g.ToolConfig | UnsetType:
    if isinstance(choice, UnsetType):
        return UNSET
    mode = MODES.get(choice.type)
    if mode is None:
        raise InvalidRequest(f"unsupported tool_choice type {choice.type!r}", param="tool_choice.type")
    allowed: list[str] | UnsetType = UNSET
    if choice.type == "tool":
        if not isinstance(choice.name, str) or not choice.name:
            raise InvalidRequest("tool_choice of type tool needs a name", param="tool_choice.name")
        allowed = [choice.name]
    config = g.FunctionCallingConfig(mode=mode, allowed_function_names=allowed)
    return g.ToolConfig(function_calling_config=config)


# Models that take only the OpenAPI-subset responseSchema; later ones take the client's JSON Schema as it is
# (responseJsonSchema), which keeps what the subset drops (additionalProperties, $ref, const, ...).
OPENAPI_SCHEMA_MODELS = ("gemini-1.", "gemini-2.0", "models/gemini-1.", "models/gemini-2.0")


def _generation_config(req: a.MessagesRequest, model: str) -> g.GenerationConfig:
    mime_type, schema, given = _response_format(req)
    json_schema: msgspec.Raw | UnsetType = UNSET
    if schema is not UNSET and not model.startswith(OPENAPI_SCHEMA_MODELS):
        schema, json_schema = UNSET, given
    return g.GenerationConfig(
        max_output_tokens=req.max_tokens,
        temperature=req.temperature,
        top_p=req.top_p,
        top_k=req.top_k,
        stop_sequences=req.stop_sequences or UNSET,
        response_mime_type=mime_type,
        response_schema=schema,
        response_json_schema=json_schema,
        thinking_config=_thinking_config(req.thinking),
    )


def _response_format(
    req: a.MessagesRequest,
) -> tuple[str | UnsetType, msgspec.Raw | UnsetType, msgspec.Raw | UnsetType]:
    """The MIME type, the schema in Gemini's OpenAPI subset, and the client's schema as it sent it."""
    fmt, path = req.output_format, "output_format"  # the deprecated beta spelling
    if not isinstance(req.output_config, UnsetType) and not isinstance(req.output_config.format, UnsetType):
        fmt, path = req.output_config.format, "output_config.format"
    if isinstance(fmt, UnsetType):
        return UNSET, UNSET, UNSET
    if fmt.type != "json_schema":
        raise InvalidRequest(f"unsupported output format type {fmt.type!r}", param=path + ".type")
    if isinstance(fmt.schema, UnsetType):
        raise InvalidRequest("json_schema output formats need a schema", param=path + ".schema")
    schema = _schema(fmt.schema, path + ".schema")
    return JSON, msgspec.Raw(g.ENCODER.encode(schema)) if schema else UNSET, fmt.schema


def _thinking_config(thinking: a.Thinking | UnsetType) -> g.ThinkingConfig | UnsetType:
    """enabled: that budget; adaptive: the model's own (dynamic) budget. Thoughts are shown unless omitted.

    `disabled` sends nothing: several Gemini models cannot stop thinking and answer 400 to a zero budget,
    and without includeThoughts no thinking reaches the client either way.
    """
    if isinstance(thinking, UnsetType) or thinking.type not in ("enabled", "adaptive"):
        return UNSET
    include = thinking.display != "omitted"
    budget = thinking.budget_tokens if thinking.type == "enabled" else UNSET
    return g.ThinkingConfig(thinking_budget=budget, include_thoughts=include)
