"""Prompt-cache markers reach each provider in its own form: Anthropic's `cache_control` from OpenAI-dialect
clients (OpenRouter / LiteLLM style), Bedrock's `cachePoint`, nothing for OpenAI and Gemini; more than four
markers are Anthropic's 400 for Anthropic and dropped for the others.

The fakes refuse what the real APIs refuse here: Anthropic more than four markers, OpenAI any marker at all.
"""

from __future__ import annotations

from typing import Any

import openai
import pytest
from anthropic.types import MessageParam, TextBlockParam
from openai.types.chat import ChatCompletionMessageParam

from gateway.testing import (
    FakeUpstream,
    Recorded,
    Reply,
    anthropic_message,
    assert_openai_error,
    openai_completion,
)
from tests.conftest import MakeGateway, upstream_config
from tests.fakes.bedrock import BEDROCK_MODEL, converse_path, converse_response, json_reply
from tests.fakes.gemini import gemini_response, generate_path
from tests.http.test_provider_bedrock import bedrock_config
from tests.http.test_provider_gemini import MODEL as GEMINI_MODEL
from tests.http.test_provider_presets import chat_path, preset_config

MESSAGES = "/v1/messages"
CHAT = "/v1/chat/completions"
EPHEMERAL: dict[str, Any] = {"type": "ephemeral"}
LONG = "A long reference document. " * 50


def markers(value: object) -> int:
    """Every `cache_control` key anywhere in a JSON value."""
    if isinstance(value, dict):
        return sum(markers(v) for v in value.values()) + ("cache_control" in value)
    if isinstance(value, list):
        return sum(markers(v) for v in value)
    return 0


def openai_markers(body: dict[str, Any]) -> int:
    """Markers where OpenAI-dialect clients put them: messages, their content parts, tools."""
    messages, tools = body.get("messages", []), body.get("tools", [])
    parts = [p for m in messages if isinstance(m.get("content"), list) for p in m["content"]]
    return sum("cache_control" in item for item in [*messages, *parts, *tools])


def like_the_real_apis(request: Recorded) -> Reply | None:
    body = request.json
    if request.path == MESSAGES and markers(body) > 4:
        found = markers(body)
        message = f"A maximum of 4 blocks with cache_control may be provided. Found {found}."
        return Reply.error(400, "invalid_request_error", message, dialect="anthropic")
    if request.path == CHAT and openai_markers(body):
        message = "Unrecognized request argument supplied: cache_control"
        return Reply.error(400, "invalid_request_error", message, dialect="openai")
    return None


@pytest.fixture
async def fake() -> Any:
    async with FakeUpstream(check=like_the_real_apis) as fake:
        yield fake


def openai_messages(count: int) -> list[ChatCompletionMessageParam]:
    """A conversation whose user parts carry `count` markers (OpenRouter's spelling, which the SDK lets through)."""
    parts: list[Any] = [{"type": "text", "text": f"{LONG} {i}", "cache_control": EPHEMERAL} for i in range(count)]
    system: list[Any] = [{"type": "text", "text": LONG, "cache_control": {**EPHEMERAL, "ttl": "1h"}}]
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": [*parts, {"type": "text", "text": "Summarise."}]},
    ]


WEATHER_MARKED: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"cache_control": {"type": "string"}}},
    },
    "cache_control": EPHEMERAL,
}


async def test_openai_client_markers_reach_anthropic_blocks(fake: FakeUpstream, make_gateway: MakeGateway) -> None:
    fake.script(MESSAGES, Reply.json(anthropic_message()))
    gateway = await make_gateway(upstream_config(fake.url))
    async with gateway.openai() as client:
        await client.chat.completions.create(
            model="anthropic/claude-x", messages=openai_messages(1), tools=[WEATHER_MARKED]
        )
    [sent] = fake.requests_to(MESSAGES)
    body = sent.json
    assert body["system"] == [{"type": "text", "text": LONG, "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    assert body["messages"][0]["content"][0]["cache_control"] == EPHEMERAL
    assert "cache_control" not in body["messages"][0]["content"][1]
    assert body["tools"][0]["cache_control"] == EPHEMERAL
    assert body["tools"][0]["input_schema"]["properties"] == {"cache_control": {"type": "string"}}


async def test_more_than_four_markers_are_anthropics_400(fake: FakeUpstream, make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(upstream_config(fake.url))
    async with gateway.openai(max_retries=0) as client:
        with pytest.raises(openai.BadRequestError) as info:
            await client.chat.completions.create(model="anthropic/claude-x", messages=openai_messages(4))
    assert "A maximum of 4 blocks with cache_control" in str(info.value)
    assert markers(fake.requests_to(MESSAGES)[0].json) == 5  # passed through, not silently fixed


@pytest.mark.parametrize("count", [1, 4])
async def test_openai_upstream_gets_no_markers(fake: FakeUpstream, make_gateway: MakeGateway, count: int) -> None:
    fake.script(CHAT, Reply.json(openai_completion("ok")))
    gateway = await make_gateway(upstream_config(fake.url))
    async with gateway.openai() as client:
        completion = await client.chat.completions.create(
            model="openai/gpt-x", messages=openai_messages(count), tools=[WEATHER_MARKED]
        )
    assert completion.choices[0].message.content == "ok"
    [sent] = fake.requests_to(CHAT)
    assert openai_markers(sent.json) == 0
    assert sent.json["tools"][0] == {k: v for k, v in WEATHER_MARKED.items() if k != "cache_control"}
    assert sent.json["messages"][1]["content"][0]["text"] == f"{LONG} 0"


async def test_anthropic_client_markers_dropped_for_openai(fake: FakeUpstream, make_gateway: MakeGateway) -> None:
    fake.script(CHAT, Reply.json(openai_completion("ok")))
    gateway = await make_gateway(upstream_config(fake.url))
    system: list[TextBlockParam] = [{"type": "text", "text": LONG, "cache_control": {"type": "ephemeral"}}]
    async with gateway.anthropic() as client:
        await client.messages.create(model="openai/gpt-x", max_tokens=32, system=system, messages=_marked_turn())
    [sent] = fake.requests_to(CHAT)
    assert markers(sent.json) == 0
    assert sent.json["messages"][0] == {"role": "system", "content": LONG}


def _marked_turn(count: int = 1) -> list[MessageParam]:
    blocks: list[Any] = [{"type": "text", "text": f"{LONG} {i}", "cache_control": EPHEMERAL} for i in range(count)]
    return [{"role": "user", "content": [*blocks, {"type": "text", "text": "Summarise."}]}]


async def test_gemini_gets_no_markers(fake: FakeUpstream, make_gateway: MakeGateway) -> None:
    fake.script(generate_path("gemini-x"), Reply.json(gemini_response("ok")))
    config = {
        "providers": {"gemini": {"keys": [{"name": "g", "value": "k"}], "network_config": {"base_url": fake.url}}}
    }
    gateway = await make_gateway(config)
    async with gateway.anthropic() as client:
        await client.messages.create(model=GEMINI_MODEL, max_tokens=32, messages=_marked_turn())
    [sent] = fake.requests_to(generate_path("gemini-x"))
    assert markers(sent.json) == 0
    assert b"cachePoint" not in sent.body and b"cache_control" not in sent.body


@pytest.mark.parametrize(("count", "points"), [(2, 2), (4, 4), (5, 0)])
async def test_bedrock_cache_points(fake: FakeUpstream, make_gateway: MakeGateway, count: int, points: int) -> None:
    """Each marker is a cachePoint after its block (the system's too); over four, none is sent."""
    fake.script(converse_path(), json_reply(converse_response("ok")))
    gateway = await make_gateway(bedrock_config(fake.url))
    async with gateway.openai() as client:
        await client.chat.completions.create(model=f"bedrock/{BEDROCK_MODEL}", messages=openai_messages(count - 1))
    [sent] = fake.requests_to(converse_path())
    content = sent.json["messages"][0]["content"]
    assert markers(sent.json) == 0
    assert len([b for b in [*sent.json["system"], *content] if "cachePoint" in b]) == points
    if points:
        assert sent.json["system"][1] == {"cachePoint": {"type": "default", "ttl": "1h"}}
        assert content[1] == {"cachePoint": {"type": "default"}}


@pytest.mark.parametrize("marker", ["yes", {"type": "ephemeral", "ttl": 5}, [1]])
async def test_a_malformed_marker_is_a_400_naming_it(
    fake: FakeUpstream, make_gateway: MakeGateway, marker: object
) -> None:
    gateway = await make_gateway(upstream_config(fake.url))
    part = {"type": "text", "text": "hi", "cache_control": marker}
    chat = {"model": "anthropic/claude-x", "messages": [{"role": "user", "content": [part]}]}
    async with gateway.http(bearer=True) as http:
        answer = await http.post(CHAT, chat)
    assert_openai_error(answer, 400, "invalid_request_error", "cache_control")
    assert not fake.requests


@pytest.mark.parametrize(("count", "kept"), [(4, 4), (5, 0)])
async def test_openrouter_gets_the_markers_up_to_four(
    fake: FakeUpstream, make_gateway: MakeGateway, count: int, kept: int
) -> None:
    """OpenRouter honours an OpenAI client's markers: relayed as sent, unless there are more than four."""
    fake.script(chat_path("openrouter"), Reply.json(openai_completion("ok")))
    gateway = await make_gateway(preset_config("openrouter", fake.url))
    async with gateway.openai() as client:
        await client.chat.completions.create(model="openrouter/anthropic/claude-x", messages=openai_messages(count - 1))
    [sent] = fake.requests_to(chat_path("openrouter"))
    assert openai_markers(sent.json) == kept
    if kept:
        assert sent.json["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}


@pytest.mark.parametrize(("count", "kept"), [(2, 3), (4, 0)])
async def test_anthropic_client_markers_reach_openrouter_in_its_shape(
    fake: FakeUpstream, make_gateway: MakeGateway, count: int, kept: int
) -> None:
    """Claude Code through OpenRouter: the system's, the text blocks' and the tools' markers become
    `cache_control` on OpenRouter's content parts and tools (translated, not relayed); over four, none."""
    fake.script(chat_path("openrouter"), Reply.json(openai_completion("ok")))
    gateway = await make_gateway(preset_config("openrouter", fake.url))
    system: list[TextBlockParam] = [
        {"type": "text", "text": "You are terse."},
        {"type": "text", "text": LONG, "cache_control": {"type": "ephemeral", "ttl": "1h"}},
    ]
    tool: Any = {"name": "get_weather", "input_schema": {"type": "object"}, "cache_control": EPHEMERAL}
    async with gateway.anthropic() as client:
        await client.messages.create(
            model="openrouter/anthropic/claude-x",
            max_tokens=32,
            system=system,
            messages=_marked_turn(count - 1),
            tools=[tool],
        )
    [sent] = fake.requests_to(chat_path("openrouter"))
    assert openai_markers(sent.json) == kept
    if kept:
        assert sent.json["messages"][0] == {
            "role": "system",
            "content": [
                {"type": "text", "text": "You are terse."},
                {"type": "text", "text": LONG, "cache_control": {"type": "ephemeral", "ttl": "1h"}},
            ],
        }
        assert sent.json["messages"][1]["content"][0] == {
            "type": "text",
            "text": f"{LONG} 0",
            "cache_control": EPHEMERAL,
        }
        assert "cache_control" not in sent.json["messages"][1]["content"][1]
        assert sent.json["tools"][0]["cache_control"] == EPHEMERAL
    else:
        assert sent.json["messages"][0] == {"role": "system", "content": "You are terse.\n\n" + LONG}
