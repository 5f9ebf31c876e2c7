"""OpenAI Chat request -> canonical Anthropic Messages request (api-spec section 6, O->A).

Pure and deterministic. Anything that has no faithful translation raises `InvalidRequest` naming the field.
"""

from __future__ import annotations

import msgspec
from msgspec import UNSET, UnsetType
from msgspec.structs import replace

from ..errors import InvalidRequest
from ..schemas import anthropic as a
from ..schemas import openai as o
from ._parts_to_anthropic import assistant_text_blocks, mark_last, marked, system_blocks, text_block, user_blocks
from ._tools_to_anthropic import tool_choice_and_tools
from .common import EMPTY_OBJECT, OBJECT_DECODER

JSON_OBJECT_INSTRUCTION = (
    "Respond with a single valid JSON object and nothing else: no prose and no Markdown code fences."
)
# reasoning_effort -> thinking budget; "none" means no thinking (api-spec section 6, thinking row).
THINKING_BUDGETS = {"minimal": 1024, "low": 1024, "medium": 8192, "high": 24576, "xhigh": 24576, "max": 24576}
SERVICE_TIERS = {"default": "standard_only", "auto": "auto"}


def chat_request_to_messages(req: o.ChatRequest, *, default_max_tokens: int) -> a.MessagesRequest:
    """Translate an OpenAI Chat request; `model` is kept unchanged (routing maps it later)."""
    if isinstance(req.n, int) and req.n > 1:
        raise InvalidRequest("n > 1 is not supported by this model", param="n")
    system, messages = _messages(req.messages)
    tools, tool_choice = tool_choice_and_tools(req)
    output_config, instruction = _output(req.response_format)
    if instruction:
        system.append(a.ContentBlock(type="text", text=instruction))
    out = a.MessagesRequest(
        model=req.model,
        messages=messages,
        max_tokens=_max_tokens(req, default_max_tokens),
        system=_system(system),
        metadata=_metadata(req),
        stop_sequences=_stop_sequences(req.stop),
        stream=req.stream if isinstance(req.stream, bool) else UNSET,
        temperature=_temperature(req.temperature),
        top_p=req.top_p if isinstance(req.top_p, float) else UNSET,
        top_k=UNSET if req.top_k is None else req.top_k,
        tools=tools or UNSET,
        tool_choice=tool_choice,
        output_config=output_config,
        service_tier=SERVICE_TIERS.get(req.service_tier or "", UNSET),
    )
    return _with_thinking(out, req.reasoning_effort, default_max_tokens)


# --- messages -----------------------------------------------------------------------------------------------


def _system(blocks: list[a.ContentBlock]) -> str | list[a.ContentBlock] | UnsetType:
    """One string, unless a block carries a cache marker: then the blocks, so the marker keeps its place."""
    if not blocks:
        return UNSET
    if any(not isinstance(block.cache_control, UnsetType) for block in blocks):
        return blocks
    return "\n\n".join(block.text for block in blocks if isinstance(block.text, str))


def _messages(msgs: list[o.ChatMessage]) -> tuple[list[a.ContentBlock], list[a.MessageParam]]:
    """Hoist system text; the rest become turns, same-role runs merged (a tool message is a user turn)."""
    system: list[a.ContentBlock] = []
    turns: list[tuple[str, list[a.ContentBlock]]] = []
    for i, msg in enumerate(msgs):
        path = f"messages[{i}]"
        if msg.role in ("system", "developer"):
            system += mark_last(system_blocks(msg.content, path + ".content"), msg.cache_control)
            continue
        role, blocks = _turn(msg, path)
        if not blocks:
            continue  # an empty turn would be rejected; dropping it lets its neighbours merge
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(blocks)
        else:
            turns.append((role, blocks))
    if not turns:
        raise InvalidRequest("at least one user or assistant message is required", param="messages")
    _strip_prefill(turns[-1])
    return system, [a.MessageParam(role=role, content=_tool_results_first(blocks)) for role, blocks in turns]


def _strip_prefill(turn: tuple[str, list[a.ContentBlock]]) -> None:
    """Anthropic rejects a final assistant (prefill) text that ends in whitespace; OpenAI does not."""
    role, blocks = turn
    last = blocks[-1]
    if role == "assistant" and last.type == "text" and isinstance(last.text, str):
        blocks[-1] = replace(last, text=last.text.rstrip())  # blank blocks are gone, so this stays non-empty


def _turn(msg: o.ChatMessage, path: str) -> tuple[str, list[a.ContentBlock]]:
    if msg.role == "user":
        return "user", mark_last(user_blocks(msg.content, path + ".content"), msg.cache_control)
    if msg.role == "tool":
        return "user", [marked(_tool_result(msg, path), msg.cache_control)]
    if msg.role == "assistant":
        return "assistant", mark_last(_assistant_blocks(msg, path), msg.cache_control)
    if msg.role == "function":
        raise InvalidRequest("legacy function messages are not supported; use tool messages", param=path + ".role")
    raise InvalidRequest(f"unsupported message role {msg.role!r}", param=path + ".role")


def _tool_results_first(blocks: list[a.ContentBlock]) -> list[a.ContentBlock]:
    """Anthropic wants tool_result blocks before any other user content; the sort is stable."""
    return sorted(blocks, key=lambda block: block.type != "tool_result")


def _tool_result(msg: o.ChatMessage, path: str) -> a.ContentBlock:
    if not isinstance(msg.tool_call_id, str) or not msg.tool_call_id:
        raise InvalidRequest("tool messages need a tool_call_id", param=path + ".tool_call_id")
    content: str | list[a.ContentBlock] | UnsetType = UNSET
    if isinstance(msg.content, str):
        content = msg.content if msg.content.strip() else UNSET
    else:
        content = user_blocks(msg.content, path + ".content") or UNSET
    return a.ContentBlock(type="tool_result", tool_use_id=msg.tool_call_id, content=content)


def _assistant_blocks(msg: o.ChatMessage, path: str) -> list[a.ContentBlock]:
    """Text (and refusal) then tool_use. `reasoning_content` is unsigned thinking that Anthropic rejects."""
    blocks = assistant_text_blocks(msg.content, path + ".content")
    if isinstance(msg.refusal, str):
        refusal = text_block(msg.refusal)
        if refusal is not None:
            blocks.append(refusal)
    for k, call in enumerate(msg.tool_calls or []):
        blocks.append(_tool_use(call, f"{path}.tool_calls[{k}]"))
    return blocks


def _tool_use(call: o.ToolCall, path: str) -> a.ContentBlock:
    if call.type != "function":
        raise InvalidRequest(f"tool calls of type {call.type!r} cannot be translated", param=path + ".type")
    if not call.id:
        raise InvalidRequest("tool calls need an id", param=path + ".id")
    name = call.function.name
    if not isinstance(name, str) or not name:
        raise InvalidRequest("tool calls need a function name", param=path + ".function.name")
    arguments = _arguments(call.function.arguments, path + ".function.arguments")
    return a.ContentBlock(type="tool_use", id=call.id, name=name, input=arguments)


def _arguments(arguments: str | UnsetType, path: str) -> msgspec.Raw:
    """The arguments string as a JSON object (tools without parameters may send "")."""
    if not isinstance(arguments, str) or not arguments.strip():
        return EMPTY_OBJECT
    try:
        OBJECT_DECODER.decode(arguments)
    except (msgspec.DecodeError, RecursionError):
        raise InvalidRequest("tool call arguments must be a JSON object", param=path) from None
    return msgspec.Raw(arguments)


# --- parameters ---------------------------------------------------------------------------------------------


def _max_tokens(req: o.ChatRequest, default: int) -> int:
    """Anthropic requires max_tokens; 0 or null counts as unset."""
    for value in (req.max_completion_tokens, req.max_tokens):
        if isinstance(value, int) and value > 0:
            return value
    return default


def _temperature(value: float | UnsetType | None) -> float | UnsetType:
    """OpenAI allows 0-2, Anthropic 0-1: clamp rather than fail."""
    return min(value, 1.0) if isinstance(value, float) else UNSET


def _stop_sequences(stop: str | list[str] | UnsetType | None) -> list[str] | UnsetType:
    items = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    return [s for s in items if s] or UNSET


def _metadata(req: o.ChatRequest) -> a.Metadata | UnsetType:
    user = req.safety_identifier or req.user  # safety_identifier is OpenAI's successor to `user`
    return a.Metadata(user_id=user) if isinstance(user, str) and user else UNSET


def _output(fmt: o.ResponseFormat | UnsetType) -> tuple[a.OutputConfig | UnsetType, str | None]:
    """response_format -> (output_config, extra system instruction)."""
    if isinstance(fmt, UnsetType) or fmt.type == "text":
        return UNSET, None
    if fmt.type == "json_object":
        return UNSET, JSON_OBJECT_INSTRUCTION  # Anthropic has no schema-less JSON mode
    if fmt.type != "json_schema":
        raise InvalidRequest(f"unsupported response_format type {fmt.type!r}", param="response_format.type")
    if isinstance(fmt.json_schema, UnsetType) or isinstance(fmt.json_schema.schema, UnsetType):
        raise InvalidRequest("json_schema response formats need a schema", param="response_format.json_schema.schema")
    output_format = a.OutputFormat(type="json_schema", schema=fmt.json_schema.schema)
    return a.OutputConfig(format=output_format), None


def _with_thinking(
    out: a.MessagesRequest, effort: str | UnsetType | None, default_max_tokens: int
) -> a.MessagesRequest:
    """reasoning_effort -> extended thinking, unless the request cannot take it."""
    if not isinstance(effort, str) or effort == "none":
        return out
    budget = THINKING_BUDGETS.get(effort)
    if budget is None:
        raise InvalidRequest(f"unsupported reasoning_effort {effort!r}", param="reasoning_effort")
    if _forces_tool(out.tool_choice) or _in_tool_loop(out.messages):
        return out
    max_tokens = out.max_tokens if isinstance(out.max_tokens, int) else default_max_tokens
    if max_tokens <= budget:
        max_tokens = budget + default_max_tokens  # Anthropic requires max_tokens > budget_tokens
    thinking = a.Thinking(type="enabled", budget_tokens=budget)
    # With thinking on, Anthropic rejects a changed temperature and any top_k.
    return replace(out, thinking=thinking, max_tokens=max_tokens, temperature=UNSET, top_k=UNSET)


def _forces_tool(choice: a.ToolChoice | UnsetType) -> bool:
    """Thinking is incompatible with forced tool use; the explicit tool_choice wins over the effort hint."""
    return not isinstance(choice, UnsetType) and choice.type in ("any", "tool")


def _in_tool_loop(messages: list[a.MessageParam]) -> bool:
    """Answering tool results with thinking on requires the signed thinking of the previous assistant turn,
    which an OpenAI client never has, so such a request would be rejected: leave thinking off instead."""
    last = messages[-1]
    return last.role == "user" and any(
        block.type == "tool_result" for block in last.content if isinstance(block, a.ContentBlock)
    )
