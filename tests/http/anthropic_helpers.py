"""Shared bits for the Anthropic-client end-to-end tests (tests/http/test_anthropic_*.py): models and paths,
request parts typed for the official SDK, and looks into what the fake upstream got and the client's stream. Raw
HTTP is the kit's: `post_once` sends what anthropic 1.x sends (x-api-key and anthropic-version; the 2.x SDK sends
Authorization: Bearer instead)."""

from __future__ import annotations

from typing import Any

from anthropic.types import MessageParam, ToolParam

from gateway.testing import FakeUpstream, SseEvent

CLAUDE = "claude-x"  # a bare model: /anthropic/... routes it to the anthropic provider
GPT = "openai/gpt-x"  # routed to the openai provider, translated both ways
MESSAGES = "/v1/messages"  # the path both fake upstream kinds are called on...
CHAT = "/v1/chat/completions"  # ...and the OpenAI one
COUNT = "/v1/messages/count_tokens"
GW_MESSAGES = "/anthropic/v1/messages"
HI: list[MessageParam] = [{"role": "user", "content": "hi"}]
WEATHER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
WEATHER_TOOL: ToolParam = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": WEATHER_SCHEMA,
}
TIME_TOOL: ToolParam = {
    "name": "get_time",
    "description": "Time in a timezone",
    "input_schema": {"type": "object", "properties": {"tz": {"type": "string"}}},
}


def sent(fake: FakeUpstream, path: str, n: int = 0) -> dict[str, Any]:
    """The JSON body of the n-th request the fake upstream received on `path`."""
    requests = fake.requests_to(path)
    assert len(requests) > n, f"upstream got {len(requests)} requests on {path}"
    body = requests[n].json
    assert isinstance(body, dict)
    return body


def deltas(events: list[SseEvent], index: int, kind: str) -> list[dict[str, Any]]:
    """The `delta` objects of type `kind` sent for block `index`."""
    out = []
    for event in events:
        if event.event == "content_block_delta":
            data = event.json()
            if data["index"] == index and data["delta"]["type"] == kind:
                out.append(data["delta"])
    return out


def named(events: list[SseEvent], name: str) -> list[dict[str, Any]]:
    return [e.json() for e in events if e.event == name]
