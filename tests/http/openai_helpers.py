"""Shared helpers for the OpenAI-dialect, CLI and config tests: raw HTTP calls and config builders."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy

from gateway.testing import SseEvent, parse_sse
from tests.conftest import ANTHROPIC_KEY, CLIENT_KEY, OPENAI_KEY

USER_HI: list[dict[str, Any]] = [{"role": "user", "content": "hi"}]
WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@dataclass
class RawReply:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    # seconds after the request was sent at which each body piece arrived (streams)
    arrivals: list[float] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.body)

    def events(self) -> list[SseEvent]:
        return parse_sse(self.body)

    def chunks(self) -> list[dict[str, Any]]:
        """The JSON chunks of an OpenAI stream, without the final [DONE]."""
        return [e.json() for e in self.events() if e.data != "[DONE]"]


async def post_raw(
    url: str,
    body: bytes | dict[str, Any],
    *,
    headers: dict[str, str] | None = None,
    content_type: str = "application/json",
) -> RawReply:
    """POST and read the whole answer, noting when each piece of the body arrived."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent_headers = {"Content-Type": content_type, "Authorization": f"Bearer {CLIENT_KEY}", **(headers or {})}
    async with aiohttp.ClientSession() as session:
        start = time.monotonic()
        async with session.post(url, data=data, headers=sent_headers) as resp:
            pieces: list[bytes] = []
            arrivals: list[float] = []
            async for piece in resp.content.iter_any():
                pieces.append(piece)
                arrivals.append(time.monotonic() - start)
            return RawReply(resp.status, resp.headers, b"".join(pieces), arrivals)


async def get_raw(url: str, headers: dict[str, str] | None = None) -> RawReply:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers or {}) as resp:
        return RawReply(resp.status, resp.headers, await resp.read())


def openai_provider(url: str, **extra: Any) -> dict[str, Any]:
    """An `openai` provider entry pointed at `url`; `extra` merges over it (keys, options, network_config...)."""
    entry: dict[str, Any] = {"keys": [{"name": "o", "value": OPENAI_KEY}], "network_config": {"base_url": url}}
    network = extra.pop("network_config", {})
    entry["network_config"].update(network)
    entry.update(extra)
    return entry


def anthropic_provider(url: str, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"keys": [{"name": "a", "value": ANTHROPIC_KEY}], "network_config": {"base_url": url}}
    network = extra.pop("network_config", {})
    entry["network_config"].update(network)
    entry.update(extra)
    return entry


def error_of(reply: RawReply) -> dict[str, Any]:
    """The OpenAI error object of a raw reply, checked for its full shape."""
    body = reply.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) >= {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"]
    return error


def without_usage_chunk(frames: Sequence[bytes]) -> list[bytes]:
    """An OpenAI upstream's frames minus the usage-only `choices: []` chunk."""
    out = []
    for frame in frames:
        events = parse_sse(frame)
        if events and events[0].data != "[DONE]" and events[0].json().get("choices") == []:
            continue
        out.append(frame)
    return out
