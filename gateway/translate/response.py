"""A complete canonical answer as an OpenAI ChatCompletion, for OpenAI clients (api-spec 6). The other way
(an OpenAI upstream's answer as a Message) is the openai provider's (plugins/provider_openai/chat_response.py)."""

from __future__ import annotations

from msgspec import UNSET

from ..schemas import anthropic as a
from ..schemas import openai as o
from .common import arguments_json, completion_id_for, finish_from_stop_reason, usage_to_openai


def message_to_chat_completion(msg: a.Message, *, model: str, created: int) -> o.ChatCompletion:
    """Canonical -> OpenAI: text joined (or null), tool_calls when present, thinking as reasoning_content."""
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[o.ToolCall] = []
    for block in msg.content:
        if block.type == "text" and isinstance(block.text, str):
            texts.append(block.text)
        elif block.type == "thinking" and isinstance(block.thinking, str) and block.thinking:
            thoughts.append(block.thinking)
        elif block.type == "tool_use" and isinstance(block.id, str) and isinstance(block.name, str):
            function = o.FunctionCall(name=block.name, arguments=arguments_json(block.input))
            calls.append(o.ToolCall(id=block.id, function=function))
        # Server-tool blocks and redacted thinking have no OpenAI form; the text carries the answer.
    message = o.ResponseMessage(
        content="".join(texts) or None,
        tool_calls=calls or UNSET,
        reasoning_content="\n\n".join(thoughts) if thoughts else UNSET,
    )
    choice = o.Choice(message=message, finish_reason=finish_from_stop_reason(msg.stop_reason))
    return o.ChatCompletion(
        id=completion_id_for(msg.id),
        created=created,
        model=model,
        choices=[choice],
        usage=usage_to_openai(msg.usage),
    )
