"""Shared helpers for the OpenAI-dialect, CLI and config tests: request parts typed for the official SDK, provider
config builders, and raw HTTP as an OpenAI client sends it (on the kit's client, `gateway.testing.Http`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from openai.types.chat import (
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageFunctionToolCall,
    ChatCompletionMessageParam,
    ChatCompletionMessageToolCallUnion,
)

from gateway.testing import Answer, Http, parse_sse
from tests.conftest import ANTHROPIC_KEY, OPENAI_KEY

USER_HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
WEATHER_TOOL: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


async def post_openai(url: str, body: bytes | Mapping[str, Any], headers: Mapping[str, str] | None = None) -> Answer:
    """One POST with the client key as Authorization: Bearer, as the OpenAI SDK sends it (`headers` add to the
    kit's defaults: JSON, and an anthropic-version that OpenAI routes ignore)."""
    async with Http(url, bearer=True) as http:
        return await http.post("", body, headers)


async def get_bare(url: str, headers: Mapping[str, str] | None = None) -> Answer:
    """One GET with exactly `headers` (no anthropic-version, no key unless given)."""
    async with Http(url, bare=True) as http:
        return await http.get("", headers)


def function_calls(
    calls: Sequence[ChatCompletionMessageToolCallUnion] | None,
) -> list[ChatCompletionMessageFunctionToolCall]:
    """A completion's tool calls, each asserted to be a function call (the SDK also types custom tool calls)."""
    assert calls is not None
    functions = [call for call in calls if isinstance(call, ChatCompletionMessageFunctionToolCall)]
    assert len(functions) == len(calls), calls
    return functions


def openai_provider(url: str, **extra: Any) -> dict[str, Any]:
    """An `openai` provider entry pointed at `url`; `extra` merges over it (keys, options, network_config...)."""
    return _provider({"name": "o", "value": OPENAI_KEY}, url, extra)


def anthropic_provider(url: str, **extra: Any) -> dict[str, Any]:
    """The same for an `anthropic` provider."""
    return _provider({"name": "a", "value": ANTHROPIC_KEY}, url, extra)


def _provider(key: dict[str, str], url: str, extra: dict[str, Any]) -> dict[str, Any]:
    network = {"base_url": url, **extra.pop("network_config", {})}
    return {"keys": [key], "network_config": network, **extra}


def without_usage_chunk(frames: Sequence[bytes]) -> list[bytes]:
    """An OpenAI upstream's frames minus the usage-only `choices: []` chunk."""
    out = []
    for frame in frames:
        events = parse_sse(frame)
        if events and events[0].data != "[DONE]" and events[0].json().get("choices") == []:
            continue
        out.append(frame)
    return out
