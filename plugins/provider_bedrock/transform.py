"""Canonical (Anthropic Messages) request -> Bedrock Converse request, and Converse response -> canonical Message.

Pure and deterministic. Anything without a faithful Converse form raises `InvalidRequest` naming the field of
the client's request.
"""

from __future__ import annotations

import msgspec
from msgspec import UNSET, Raw, UnsetType

from gateway import InvalidRequest
from gateway.api import MAX_CACHE_MARKERS, cache_markers, without_cache_markers
from gateway.api import anthropic as a

from . import wire as w
from .blocks import cache_point, message_blocks, text_blocks, tool_names_used

OBJECT_SCHEMA = Raw(b'{"type":"object","properties":{}}')
STRUCTURED_OUTPUT_NAME = "output"
# Converse reports which stop sequence matched only when asked, and only Anthropic models answer this path.
STOP_SEQUENCE_PATH = "/stop_sequence"
# Converse stopReason -> Anthropic stop_reason. A guardrail or content filter stopping the model is a refusal;
# malformed output ends the turn (the content is what the model produced).
STOP_REASONS = {
    "end_turn": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "guardrail_intervened": "refusal",
    "content_filtered": "refusal",
    "model_context_window_exceeded": "model_context_window_exceeded",
    "malformed_model_output": "end_turn",
    "malformed_tool_use": "end_turn",
}
_STRING = msgspec.json.Decoder(str)


def converse_request(req: a.MessagesRequest, *, model: str) -> w.ConverseRequest:
    """Translate a canonical request for Bedrock model `model` (the id in the URL)."""
    if cache_markers(req) > MAX_CACHE_MARKERS:
        req = without_cache_markers(req)  # Converse would refuse the request: it is served uncached instead
    system, messages = _conversation(req)
    additional = _additional_fields(req)
    wants_stop_sequence = bool(req.stop_sequences) and "anthropic." in model
    return w.ConverseRequest(
        messages=messages,
        system=system or UNSET,
        inference_config=w.InferenceConfig(
            max_tokens=req.max_tokens,
            temperature=req.temperature,
            top_p=req.top_p,
            stop_sequences=req.stop_sequences or UNSET,
        ),
        tool_config=_tool_config(req, tool_names_used(messages)),
        additional_model_request_fields=additional or UNSET,
        additional_model_response_field_paths=[STOP_SEQUENCE_PATH] if wants_stop_sequence else UNSET,
        output_config=_output_config(req),
    )


def _conversation(req: a.MessagesRequest) -> tuple[list[w.Block], list[w.Message]]:
    """The system blocks and the messages, consecutive turns of one role merged (Converse wants alternation)."""
    system = [] if isinstance(req.system, UnsetType) else text_blocks(req.system, "system")
    messages: list[w.Message] = []
    for i, message in enumerate(req.messages):
        path = f"messages[{i}]"
        if message.role == "system":  # in-place system turns (anthropic 2.14): Converse has only the top-level one
            system.extend(text_blocks(message.content, path + ".content"))
            continue
        if message.role not in ("user", "assistant"):
            raise InvalidRequest(f"unsupported message role {message.role!r}", param=path + ".role")
        content = message_blocks(message.content, path + ".content")
        if messages and messages[-1].role == message.role:
            messages[-1].content.extend(content)
        else:
            messages.append(w.Message(role=message.role, content=content))
    if isinstance(req.cache_control, a.CacheControl) and messages:
        # Anthropic's automatic caching (a top-level marker) caches through the last block: Converse's way to say so
        messages[-1].content.append(w.Block(cache_point=cache_point(req.cache_control)))
    return system, messages


def _tool_config(req: a.MessagesRequest, used: list[str]) -> w.ToolConfig | UnsetType:
    tools: list[w.Tool] = []
    for i, tool in enumerate(req.tools or []):
        tools.append(_tool(tool, f"tools[{i}]"))
        if tool.cache_control:
            tools.append(w.Tool(cache_point=cache_point(tool.cache_control)))
    choice = req.tool_choice
    if isinstance(choice, a.ToolChoice) and choice.type == "none" and not used:
        return UNSET  # Converse has no "none": offering no tools is the same
    if not tools and used:
        # Converse refuses toolUse/toolResult blocks without a toolConfig (a client may drop its tools once
        # it has the answer): declare the tools the conversation used.
        tools = [w.Tool(tool_spec=w.ToolSpec(name=n, input_schema=w.InputSchema(json=OBJECT_SCHEMA))) for n in used]
    if not tools:
        return UNSET
    return w.ToolConfig(tools=tools, tool_choice=_tool_choice(choice))


def _tool(tool: a.Tool, path: str) -> w.Tool:
    if isinstance(tool.type, str) and tool.type != "custom":
        # Server tools (web_search, code_execution, ...) run inside Anthropic's API: Converse has none.
        raise InvalidRequest(f"tool type {tool.type!r} is not supported by bedrock", param=path + ".type")
    schema = tool.input_schema if isinstance(tool.input_schema, Raw) else OBJECT_SCHEMA
    spec = w.ToolSpec(
        name=tool.name,
        input_schema=w.InputSchema(json=schema),
        description=tool.description or UNSET,  # Converse rejects an empty description
        strict=tool.strict,
    )
    return w.Tool(tool_spec=spec)


def _tool_choice(choice: a.ToolChoice | UnsetType) -> w.ToolChoice | UnsetType:
    if isinstance(choice, UnsetType) or choice.type == "none":
        return UNSET
    if choice.type == "auto":
        return w.ToolChoice(auto=w.Empty())
    if choice.type == "any":
        return w.ToolChoice(any=w.Empty())
    if choice.type == "tool":
        if not isinstance(choice.name, str) or not choice.name:
            raise InvalidRequest("tool_choice of type tool needs a name", param="tool_choice.name")
        return w.ToolChoice(tool=w.SpecificTool(name=choice.name))
    raise InvalidRequest(f"unsupported tool_choice type {choice.type!r}", param="tool_choice.type")


def _additional_fields(req: a.MessagesRequest) -> dict[str, Raw]:
    """Model-specific fields Converse passes through: top_k and thinking (Anthropic's own names)."""
    fields: dict[str, Raw] = {}
    if isinstance(req.top_k, int):
        fields["top_k"] = Raw(w.ENCODER.encode(req.top_k))
    if not isinstance(req.thinking, UnsetType):
        fields["thinking"] = Raw(a.ENCODER.encode(req.thinking))
    return fields


def _output_config(req: a.MessagesRequest) -> w.OutputConfig | UnsetType:
    fmt, path = req.output_format, "output_format"  # the deprecated beta spelling
    effort: str | UnsetType = UNSET
    if not isinstance(req.output_config, UnsetType):
        effort = req.output_config.effort
        if not isinstance(req.output_config.format, UnsetType):
            fmt, path = req.output_config.format, "output_config.format"
    text_format: w.OutputFormat | UnsetType = UNSET
    if not isinstance(fmt, UnsetType):
        if fmt.type != "json_schema":
            raise InvalidRequest(f"unsupported output format type {fmt.type!r}", param=path + ".type")
        if isinstance(fmt.schema, UnsetType):
            raise InvalidRequest("json_schema output formats need a schema", param=path + ".schema")
        compact = w.ENCODER.encode(msgspec.json.decode(fmt.schema)).decode()  # Converse wants JSON text
        schema = w.JsonSchema(schema=compact, name=STRUCTURED_OUTPUT_NAME)
        text_format = w.OutputFormat(structure=w.OutputStructure(json_schema=schema))
    if isinstance(text_format, UnsetType) and isinstance(effort, UnsetType):
        return UNSET
    return w.OutputConfig(text_format=text_format, effort=effort)


# --- response -------------------------------------------------------------------------------------------


def converse_message(resp: w.ConverseResponse, *, model: str, message_id: str) -> a.Message:
    """A Converse answer as an Anthropic Message; `model` is the name the client asked for."""
    blocks = resp.output.message.content if resp.output.message is not None else []
    stop_reason = stop_reason_of(resp.stop_reason)
    return a.Message(
        id=message_id,
        model=model,
        content=[b for b in (content_block(block) for block in blocks) if b is not None],
        stop_reason=stop_reason,
        stop_sequence=stop_sequence_of(stop_reason, resp.additional_model_response_fields),
        usage=usage_of(resp.usage),
    )


def content_block(block: w.Block) -> a.ContentBlock | None:
    """text, tool_use, thinking or redacted_thinking; None for what Anthropic has no block for."""
    if isinstance(block.text, str):
        return a.ContentBlock(type="text", text=block.text)
    if isinstance(block.tool_use, w.ToolUse):
        use = block.tool_use
        return a.ContentBlock(type="tool_use", id=use.tool_use_id, name=use.name, input=use.input)
    reasoning = block.reasoning_content
    if isinstance(reasoning, w.Reasoning):
        if isinstance(reasoning.redacted_content, str):
            return a.ContentBlock(type="redacted_thinking", data=reasoning.redacted_content)
        if isinstance(reasoning.reasoning_text, w.ReasoningText):
            text = reasoning.reasoning_text
            signature = text.signature if isinstance(text.signature, str) else ""
            return a.ContentBlock(type="thinking", thinking=text.text, signature=signature)
    return None


def stop_reason_of(stop_reason: str) -> str:
    return STOP_REASONS.get(stop_reason, "end_turn")


def stop_sequence_of(stop_reason: str, fields: dict[str, Raw] | None) -> str | None:
    """The matched stop sequence, which Anthropic models report in additionalModelResponseFields."""
    raw = (fields or {}).get("stop_sequence")
    if stop_reason != "stop_sequence" or raw is None:
        return None
    try:
        return _STRING.decode(raw)
    except msgspec.DecodeError:
        return None


def usage_of(usage: w.TokenUsage) -> a.Usage:
    """Converse counts cache reads and writes apart from inputTokens, as Anthropic does."""
    return a.Usage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_creation_input_tokens=usage.cache_write_input_tokens,
        cache_read_input_tokens=usage.cache_read_input_tokens,
    )
