"""Shared bits for the Anthropic-client end-to-end tests (tests/http/test_anthropic_*.py).

Raw HTTP helpers talk to the gateway with aiohttp, for what the SDK hides (exact bytes, headers, SSE frames,
bodies the SDK would refuse to send). `check_stream_grammar` asserts the event order of api-spec section 3.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy

from gateway.testing import FakeUpstream, SseEvent, parse_sse
from tests.conftest import CLIENT_KEY, Gateway

CLAUDE = "claude-x"  # a bare model: /anthropic/... routes it to the anthropic provider
GPT = "openai/gpt-x"  # routed to the openai provider, translated both ways
MESSAGES = "/v1/messages"  # the path both fake upstream kinds are called on...
CHAT = "/v1/chat/completions"  # ...and the OpenAI one
COUNT = "/v1/messages/count_tokens"
GW_MESSAGES = "/anthropic/v1/messages"
HI: list[dict[str, Any]] = [{"role": "user", "content": "hi"}]
WEATHER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
WEATHER_TOOL: dict[str, Any] = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": WEATHER_SCHEMA,
}
TIME_TOOL: dict[str, Any] = {
    "name": "get_time",
    "description": "Time in a timezone",
    "input_schema": {"type": "object", "properties": {"tz": {"type": "string"}}},
}
# What anthropic 1.x sends; the 2.x SDK sends Authorization: Bearer instead.
RAW_HEADERS = {"content-type": "application/json", "x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"}


class RawReply:
    """A gateway answer read in full by aiohttp."""

    def __init__(self, status: int, headers: CIMultiDictProxy[str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    def events(self) -> list[SseEvent]:
        return parse_sse(self.body)


async def post_raw(
    gateway: Gateway,
    body: bytes | dict[str, Any],
    *,
    path: str = GW_MESSAGES,
    headers: dict[str, str] | None = None,
) -> RawReply:
    """POST exact bytes (or a dict as JSON) with 1.x-style headers, unless `headers` replaces them."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with aiohttp.ClientSession() as session:
        async with session.post(
            gateway.url + path, data=data, headers=RAW_HEADERS if headers is None else headers
        ) as resp:
            return RawReply(resp.status, resp.headers, await resp.read())


def sent(fake: FakeUpstream, path: str, n: int = 0) -> dict[str, Any]:
    """The JSON body of the n-th request the fake upstream received on `path`."""
    requests = fake.requests_to(path)
    assert len(requests) > n, f"upstream got {len(requests)} requests on {path}"
    body = requests[n].json
    assert isinstance(body, dict)
    return body


def assert_anthropic_error(reply: RawReply, status: int, kind: str) -> dict[str, Any]:
    """A gateway error in the Anthropic shape, with a request-id header equal to the body's."""
    assert reply.status == status, reply.body
    assert reply.headers["content-type"].startswith("application/json")
    body = reply.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == kind
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert reply.headers["request-id"] == body["request_id"]
    return body


def check_stream_grammar(events: list[SseEvent]) -> list[dict[str, Any]]:
    """Assert api-spec section 3 (event lines, order, contiguous indices, one open block); return the blocks."""
    for event in events:
        assert event.event is not None, f"frame without an event: line: {event.data}"
        assert event.json()["type"] == event.event
    names = [e.event for e in events if e.event != "ping"]
    assert names[0] == "message_start", names
    assert names[-2:] == ["message_delta", "message_stop"], names
    blocks: list[dict[str, Any]] = []
    open_index: int | None = None
    for event in events[1:-2]:
        data = event.json()
        if event.event == "ping":
            continue
        if event.event == "content_block_start":
            assert open_index is None, f"block {data['index']} started while {open_index} is open"
            assert data["index"] == len(blocks), "indices must be contiguous, in start order"
            open_index = data["index"]
            blocks.append(data["content_block"])
        elif event.event == "content_block_delta":
            assert data["index"] == open_index
        elif event.event == "content_block_stop":
            assert data["index"] == open_index
            open_index = None
        else:
            raise AssertionError(f"unexpected {event.event} inside the message")
    assert open_index is None, "a block was never stopped"
    return blocks


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
