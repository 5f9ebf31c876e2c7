"""Tables and small conversions shared by the request, response and stream translators (api-spec.md section 6)."""

from __future__ import annotations

import secrets

import msgspec
from msgspec import UnsetType

from ..schemas import anthropic as a
from ..schemas import openai as o

EMPTY_OBJECT = msgspec.Raw(b"{}")
OBJECT_DECODER = msgspec.json.Decoder(dict[str, msgspec.Raw])  # a JSON object, values kept raw

# OpenAI finish_reason -> Anthropic stop_reason
STOP_REASON_FROM_FINISH = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
# Anthropic stop_reason -> OpenAI finish_reason
FINISH_FROM_STOP_REASON = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "pause_turn": "stop",
    "compaction": "stop",
}


def stop_reason_from_finish(finish: str | None, *, has_tool_calls: bool) -> str:
    """Map a finish_reason; a turn with tool calls ends in tool_use unless it was cut by length (pitfall 6.3)."""
    if finish == "length":
        return "max_tokens"
    if has_tool_calls:
        return "tool_use"
    return STOP_REASON_FROM_FINISH.get(finish or "stop", "end_turn")


def finish_from_stop_reason(stop_reason: str | None) -> str:
    return FINISH_FROM_STOP_REASON.get(stop_reason or "end_turn", "stop")


def usage_from_openai(usage: o.CompletionUsage | None) -> a.Usage:
    """prompt_tokens includes cached tokens; Anthropic's input_tokens does not."""
    if usage is None:
        return a.Usage()
    details = usage.prompt_tokens_details
    cached = _int(details.cached_tokens) if details else 0
    written = _int(details.cache_write_tokens) if details else 0
    return a.Usage(
        input_tokens=max(usage.prompt_tokens - cached - written, 0),
        output_tokens=usage.completion_tokens,
        cache_read_input_tokens=cached,
        cache_creation_input_tokens=written,
    )


def usage_to_openai(usage: a.Usage) -> o.CompletionUsage:
    cached = usage.cache_read_input_tokens or 0
    written = usage.cache_creation_input_tokens or 0
    prompt = usage.input_tokens + cached + written
    return o.CompletionUsage(
        prompt_tokens=prompt,
        completion_tokens=usage.output_tokens,
        total_tokens=prompt + usage.output_tokens,
        prompt_tokens_details=o.PromptTokensDetails(cached_tokens=cached, cache_write_tokens=written),
    )


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


def new_message_id() -> str:
    return "msg_" + secrets.token_hex(12)


def new_tool_use_id() -> str:
    return "toolu_" + secrets.token_hex(12)


def new_completion_id() -> str:
    return "chatcmpl-" + secrets.token_hex(12)


def completion_id_for(message_id: str) -> str:
    return message_id if message_id.startswith("chatcmpl") else "chatcmpl-" + message_id


def arguments_json(value: msgspec.Raw | UnsetType) -> str:
    """Tool input as compact JSON text (the OpenAI `arguments` string)."""
    if isinstance(value, UnsetType):
        return "{}"
    return a.ENCODER.encode(msgspec.json.decode(value)).decode()


# Our neutral error kinds (Anthropic's names) as OpenAI spells them: (type, code).
OPENAI_ERRORS = {
    "invalid_request_error": ("invalid_request_error", None),
    "authentication_error": ("authentication_error", "invalid_api_key"),
    "billing_error": ("insufficient_quota", "insufficient_quota"),
    "permission_error": ("permission_error", None),
    "not_found_error": ("not_found_error", None),
    "request_too_large": ("invalid_request_error", "request_too_large"),
    "rate_limit_error": ("rate_limit_error", "rate_limit_exceeded"),
    "api_error": ("server_error", None),
    "overloaded_error": ("server_error", "overloaded"),
    "timeout_error": ("timeout_error", None),
}
