"""Model listings for OpenAI clients (and the Anthropic shape on the shared path), and the mock provider."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest

from gateway.testing import FakeUpstream
from tests.conftest import ANTHROPIC_KEY, CLIENT_KEY, OPENAI_KEY, Gateway, MakeGateway
from tests.http.openai_helpers import (
    WEATHER_TOOL,
    anthropic_provider,
    function_calls,
    get_bare,
    openai_provider,
)

LISTED_IDS = {"anthropic/claude-x", "openai/gpt-x", "openai/gpt-y", "mock/mock-claude", "mock/mock-gpt"}


@pytest.fixture
async def listing_gateway(fake_upstream: FakeUpstream, make_gateway: MakeGateway) -> Gateway:
    """Providers whose keys name their models, so the listings have something to list."""
    return await make_gateway(
        {
            "providers": {
                "anthropic": anthropic_provider(
                    fake_upstream.url, keys=[{"name": "a", "value": ANTHROPIC_KEY, "models": ["claude-x"]}]
                ),
                "openai": openai_provider(
                    fake_upstream.url,
                    keys=[
                        {"name": "o1", "value": OPENAI_KEY, "models": ["gpt-x"]},
                        {"name": "o2", "value": OPENAI_KEY, "models": ["gpt-y", "gpt-x"]},
                    ],
                ),
                "mock": {},
            }
        }
    )


async def test_models_list_openai_shape(listing_gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    async with listing_gateway.openai() as client:
        page = await client.models.list()
        models = [model async for model in page]
    assert {m.id for m in models} == LISTED_IDS
    assert len(models) == len(LISTED_IDS)
    for model in models:
        assert model.object == "model"
        assert model.owned_by == model.id.partition("/")[0]
        assert isinstance(model.created, int)
    assert fake_upstream.requests == []


async def test_models_list_raw_is_object_list(listing_gateway: Gateway) -> None:
    reply = await get_bare(listing_gateway.url + "/v1/models", {"Authorization": f"Bearer {CLIENT_KEY}"})
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("application/json")
    body = reply.json()
    assert body["object"] == "list"
    assert {m["id"] for m in body["data"]} == LISTED_IDS
    assert all({"id", "object", "created", "owned_by"} <= set(m) for m in body["data"])


async def test_models_list_openai_route_lists_bare_openai_models(listing_gateway: Gateway) -> None:
    reply = await get_bare(listing_gateway.url + "/openai/v1/models")
    assert reply.status == 200
    ids = {m["id"] for m in reply.json()["data"]}
    assert {"gpt-x", "gpt-y"} <= ids
    assert "openai/gpt-x" not in ids
    assert "anthropic/claude-x" in ids


async def test_models_list_anthropic_version_gives_anthropic_shape(listing_gateway: Gateway) -> None:
    reply = await get_bare(listing_gateway.url + "/v1/models", {"anthropic-version": "2023-06-01"})
    assert reply.status == 200
    body = reply.json()
    assert "object" not in body
    assert body["has_more"] is False
    assert {m["id"] for m in body["data"]} == LISTED_IDS
    assert all(m["type"] == "model" and m["display_name"] and m["created_at"] for m in body["data"])
    assert body["first_id"] == body["data"][0]["id"]
    assert body["last_id"] == body["data"][-1]["id"]


async def test_models_list_anthropic_sdk_on_shared_path(listing_gateway: Gateway) -> None:
    client = anthropic.AsyncAnthropic(
        base_url=listing_gateway.url, api_key=CLIENT_KEY, max_retries=0, _strict_response_validation=True
    )
    async with client:
        models = [model async for model in client.models.list()]
    assert {m.id for m in models} == LISTED_IDS
    assert all(m.type == "model" for m in models)


async def test_models_retrieve_openai(listing_gateway: Gateway) -> None:
    async with listing_gateway.openai() as client:
        model = await client.models.retrieve("openai/gpt-y")
    assert model.id == "openai/gpt-y"
    assert model.owned_by == "openai"


# --- the mock provider through the openai SDK -----------------------------------------------------------------


async def test_mock_chat_text(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    async with gateway.openai() as client:
        completion = await client.chat.completions.create(
            model="mock/mock-gpt", messages=[{"role": "user", "content": "hello there"}]
        )
    message = completion.choices[0].message
    assert message.role == "assistant"
    assert message.content == "Mock reply to: hello there"
    assert message.tool_calls is None
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "mock/mock-gpt"
    assert completion.usage is not None and completion.usage.completion_tokens > 0
    assert fake_upstream.requests == []


async def test_mock_chat_stream(gateway: Gateway) -> None:
    async with gateway.openai() as client:
        stream = await client.chat.completions.create(
            model="mock/mock-gpt",
            messages=[{"role": "user", "content": "stream me"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Mock reply to: stream me"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) >= 2
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None


ASK_WEATHER: list[Any] = [{"role": "user", "content": "What does get_weather say for Oslo?"}]


async def test_mock_chat_tool_call(gateway: Gateway) -> None:
    async with gateway.openai() as client:
        completion = await client.chat.completions.create(
            model="mock/mock-gpt", messages=ASK_WEATHER, tools=[WEATHER_TOOL]
        )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = function_calls(choice.message.tool_calls)
    assert len(calls) == 1
    assert calls[0].function.name == "get_weather"
    assert calls[0].id
    assert json.loads(calls[0].function.arguments) == {"city": "example city"}


async def test_mock_chat_stream_helper_tool_call(gateway: Gateway) -> None:
    async with gateway.openai() as client:
        async with client.chat.completions.stream(
            model="mock/mock-gpt", messages=ASK_WEATHER, tools=[WEATHER_TOOL]
        ) as stream:
            final = await stream.get_final_completion()
    message = final.choices[0].message
    assert message.role == "assistant"
    assert message.tool_calls is not None and len(message.tool_calls) == 1
    call = message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert call.id.startswith("toolu_") and call.id.count("toolu_") == 1
    assert final.choices[0].finish_reason == "tool_calls"


async def test_mock_chat_answers_tool_result_with_text(gateway: Gateway) -> None:
    history: list[Any] = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    async with gateway.openai() as client:
        completion = await client.chat.completions.create(model="mock/mock-gpt", messages=history, tools=[WEATHER_TOOL])
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].message.content == "Mock reply to: weather?\n(tool result: sunny)"
