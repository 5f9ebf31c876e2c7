"""An OpenAI ChatCompletion (from an OpenAI-wire upstream) as the canonical Anthropic Message (api-spec 6)."""

from __future__ import annotations

import msgspec

from gateway.api import (
    EMPTY_OBJECT,
    OBJECT_DECODER,
    UpstreamError,
    new_message_id,
    new_tool_use_id,
    stop_reason_from_finish,
    usage_from_openai,
)
from gateway.api import anthropic as a
from gateway.api import openai as o


def chat_completion_to_message(resp: o.ChatCompletion, *, model: str) -> a.Message:
    """OpenAI -> canonical: thinking, text, refusal, then tool_use blocks. `model` is the client's name."""
    if not resp.choices:
        raise UpstreamError("upstream returned no choices")
    choice = resp.choices[0]
    msg = choice.message
    content: list[a.ContentBlock] = []
    reasoning = msg.reasoning_content or msg.reasoning  # DeepSeek/vLLM vs OpenRouter spelling
    if isinstance(reasoning, str) and reasoning:
        # Unsigned: a compatible server has no Anthropic signature; never send this block back to Anthropic.
        content.append(a.ContentBlock(type="thinking", thinking=reasoning, signature=""))
    if msg.content:
        content.append(a.ContentBlock(type="text", text=msg.content))
    if msg.refusal:
        content.append(a.ContentBlock(type="text", text=msg.refusal))
    calls = msg.tool_calls or []
    content.extend(_tool_use(call) for call in calls)
    if msg.refusal:
        stop_reason = "refusal"
    else:
        stop_reason = stop_reason_from_finish(choice.finish_reason, has_tool_calls=bool(calls))
    usage = usage_from_openai(resp.usage if isinstance(resp.usage, o.CompletionUsage) else None)
    return a.Message(
        id=resp.id or new_message_id(),
        model=model,
        content=content,
        stop_reason=stop_reason,
        stop_sequence=None,  # OpenAI does not say which stop string matched
        usage=usage,
    )


def _tool_use(call: o.ToolCall) -> a.ContentBlock:
    name = call.function.name if isinstance(call.function.name, str) else ""
    return a.ContentBlock(
        type="tool_use", id=call.id or new_tool_use_id(), name=name, input=_input(call.function.arguments)
    )


def _input(arguments: str | object) -> msgspec.Raw:
    """Tool arguments as a JSON object; "" or a non-object becomes {} (better than failing a whole reply)."""
    if not isinstance(arguments, str) or not arguments.strip():
        return EMPTY_OBJECT
    try:
        OBJECT_DECODER.decode(arguments)
    except (msgspec.DecodeError, RecursionError):
        return EMPTY_OBJECT
    return msgspec.Raw(arguments)
