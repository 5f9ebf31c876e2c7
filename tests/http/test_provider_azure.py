"""Azure OpenAI behind the gateway, end to end with the official SDKs against a fake Azure resource.

The fake serves `/openai/deployments/<deployment>/chat/completions`; the gateway must send `api-key` (never the
client's key, never an Authorization header) and `api-version`, and map model names to deployments.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest
from anthropic.types import ToolParam

from gateway.config import ConfigError
from gateway.testing import (
    FakeUpstream,
    Recorded,
    Reply,
    ToolUse,
    openai_completion,
    openai_frame,
    openai_sse,
    openai_usage,
)
from tests.conftest import CLIENT_KEY, Gateway, MakeGateway
from tests.http.anthropic_helpers import HI
from tests.http.openai_helpers import USER_HI, WEATHER_TOOL, post_openai

AZURE_KEY = "azure-upstream-secret"
API_VERSION = "2024-10-21"
DEPLOYED = "/openai/deployments/prod-4o/chat/completions"  # where model gpt-4o is deployed
MODEL = "azure/gpt-4o"
ANTHROPIC_WEATHER: ToolParam = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def azure_config(endpoint: str, **key_config: Any) -> dict[str, Any]:
    azure_key = {"endpoint": endpoint, "deployments": {"gpt-4o": "prod-4o"}, "api_version": API_VERSION}
    azure_key.update(key_config)
    return {"providers": {"azure": {"keys": [{"name": "az", "value": AZURE_KEY, "azure_key_config": azure_key}]}}}


@pytest.fixture
async def gateway(fake_upstream: FakeUpstream, make_gateway: MakeGateway) -> Gateway:
    return await make_gateway(azure_config(fake_upstream.url))


def only_request(fake: FakeUpstream, path: str = DEPLOYED) -> Recorded:
    [sent] = fake.requests_to(path)
    return sent


def assert_azure_auth(sent: Recorded) -> None:
    assert sent.headers["api-key"] == AZURE_KEY
    assert "authorization" not in sent.headers
    assert CLIENT_KEY not in str(sent.headers)
    assert sent.query == {"api-version": API_VERSION}


# --- Anthropic clients (translated) ---------------------------------------------------------------------------


async def test_anthropic_create(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(DEPLOYED, Reply.json(openai_completion("Hello from Azure", usage=openai_usage(11, 4))))
    async with gateway.anthropic() as client:
        message = await client.messages.create(model=MODEL, max_tokens=32, system="Be brief.", messages=HI)
    assert message.content[0].text == "Hello from Azure"  # type: ignore[union-attr]
    assert message.model == MODEL
    assert (message.usage.input_tokens, message.usage.output_tokens) == (11, 4)
    sent = only_request(fake_upstream)
    assert_azure_auth(sent)
    assert sent.json["max_completion_tokens"] == 32
    assert sent.json["messages"][0] == {"role": "system", "content": "Be brief."}


async def test_anthropic_tools_round_trip(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    call = ToolUse("call_1", "get_weather", {"city": "Paris"})
    fake_upstream.script(DEPLOYED, Reply.json(openai_completion(None, tool_calls=[call])))
    async with gateway.anthropic() as client:
        message = await client.messages.create(model=MODEL, max_tokens=64, messages=HI, tools=[ANTHROPIC_WEATHER])
    assert message.stop_reason == "tool_use"
    [block] = message.content
    assert block.type == "tool_use" and block.name == "get_weather" and block.input == {"city": "Paris"}
    tool = only_request(fake_upstream).json["tools"][0]
    assert tool["type"] == "function" and tool["function"]["name"] == "get_weather"


async def test_anthropic_stream_with_tool_call(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    call = ToolUse("call_2", "get_weather", {"city": "Oslo"})
    fake_upstream.script(DEPLOYED, Reply.sse(openai_sse(("Let me ", "check."), tool_calls=[call])))
    async with gateway.anthropic() as client:
        async with client.messages.stream(model=MODEL, max_tokens=64, messages=HI, tools=[ANTHROPIC_WEATHER]) as stream:
            message = await stream.get_final_message()
    assert [b.type for b in message.content] == ["text", "tool_use"]
    assert message.content[0].text == "Let me check."  # type: ignore[union-attr]
    assert message.content[1].input == {"city": "Oslo"}  # type: ignore[union-attr]
    assert message.stop_reason == "tool_use"
    sent = only_request(fake_upstream)
    assert_azure_auth(sent)
    assert sent.json["stream"] is True and sent.json["stream_options"] == {"include_usage": True}


async def test_anthropic_stream_skips_azure_content_filter_chunk(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    """Azure opens a stream with a choice-less chunk carrying prompt_filter_results and empty ids."""
    filter_chunk = openai_frame(
        {"choices": [], "created": 0, "id": "", "model": "", "object": "", "prompt_filter_results": []}
    )
    fake_upstream.script(DEPLOYED, Reply.sse([filter_chunk, *openai_sse(("A", "zure"))]))
    async with gateway.anthropic() as client:
        async with client.messages.stream(model=MODEL, max_tokens=16, messages=HI) as stream:
            message = await stream.get_final_message()
    assert message.content[0].text == "Azure"  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"


ERRORS = [
    (400, anthropic.BadRequestError, openai.BadRequestError),
    (429, anthropic.RateLimitError, openai.RateLimitError),
    (500, anthropic.InternalServerError, openai.InternalServerError),
]


def azure_error(status: int) -> Reply:
    """Azure's error shape: `{"error": {"code", "message"}}` (no `type`)."""
    body = {"error": {"code": f"E{status}", "message": f"azure says {status}"}}
    return Reply.json(body, status, {"retry-after": "0"} if status == 429 else None)


@pytest.mark.parametrize(("status", "anthropic_error", "openai_error"), ERRORS)
async def test_errors_keep_status(
    gateway: Gateway,
    fake_upstream: FakeUpstream,
    status: int,
    anthropic_error: type[anthropic.APIStatusError],
    openai_error: type[openai.APIStatusError],
) -> None:
    fake_upstream.script(DEPLOYED, azure_error(status), azure_error(status))
    async with gateway.anthropic() as client:
        with pytest.raises(anthropic_error) as from_anthropic:
            await client.messages.create(model=MODEL, max_tokens=8, messages=HI)
    async with gateway.openai() as oclient:
        with pytest.raises(openai_error) as from_openai:
            await oclient.chat.completions.create(model=MODEL, messages=USER_HI)
    assert from_anthropic.value.status_code == status and f"azure says {status}" in str(from_anthropic.value)
    assert from_openai.value.status_code == status and f"azure says {status}" in str(from_openai.value)
    assert len(fake_upstream.requests_to(DEPLOYED)) == 2  # no retries by default


async def test_stream_error_before_first_chunk(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(DEPLOYED, azure_error(429))
    async with gateway.anthropic() as client:
        with pytest.raises(anthropic.RateLimitError):
            async with client.messages.stream(model=MODEL, max_tokens=8, messages=HI) as stream:
                await stream.get_final_message()


# --- OpenAI clients (relayed) ---------------------------------------------------------------------------------


async def test_openai_create_relays_bytes(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    body = openai_completion("Bonjour", tool_calls=[ToolUse("call_9", "get_weather", {"city": "Nice"})])
    fake_upstream.script(DEPLOYED, Reply.json(body, headers={"x-request-id": "req_az_1"}))
    async with gateway.openai() as client:
        raw = await client.chat.completions.with_raw_response.create(
            model=MODEL, messages=USER_HI, tools=[WEATHER_TOOL], max_tokens=20, extra_body={"x_vendor": 1}
        )
        completion = raw.parse()
    assert raw.content == json.dumps(body, separators=(",", ":")).encode()
    assert raw.headers["x-request-id"] == "req_az_1"
    assert completion.choices[0].message.tool_calls[0].id == "call_9"  # type: ignore[index]
    sent = only_request(fake_upstream)
    assert_azure_auth(sent)
    # the client's body, with only the model renamed: its own max_tokens and unknown fields included
    assert sent.json["model"] == "gpt-4o" and sent.json["max_tokens"] == 20 and sent.json["x_vendor"] == 1
    assert sent.json["tools"] == [WEATHER_TOOL]


async def test_openai_stream_relays_frames(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    frames = openai_sse(("Hel", "lo"))
    fake_upstream.script(DEPLOYED, Reply.sse(frames))
    request = {"model": MODEL, "messages": USER_HI, "stream": True, "stream_options": {"include_usage": True}}
    reply = await post_openai(gateway.url + "/v1/chat/completions", request)
    assert reply.status == 200
    assert reply.body == b"".join(frames)
    assert_azure_auth(only_request(fake_upstream))


async def test_openai_sdk_stream(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(DEPLOYED, Reply.sse(openai_sse(("a", "b", "c"))))
    async with gateway.openai() as client:
        stream = await client.chat.completions.create(model=MODEL, messages=USER_HI, stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "abc"


# --- config ---------------------------------------------------------------------------------------------------


async def test_model_without_deployment_uses_its_name(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    path = "/openai/deployments/gpt-4o-mini/chat/completions"
    fake_upstream.script(path, Reply.json(openai_completion("mini")))
    async with gateway.openai() as client:
        completion = await client.chat.completions.create(model="azure/gpt-4o-mini", messages=USER_HI)
    assert completion.choices[0].message.content == "mini"
    assert_azure_auth(only_request(fake_upstream, path))


async def test_env_references_and_default_api_version(
    fake_upstream: FakeUpstream, make_gateway: MakeGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_AZURE_ENDPOINT", fake_upstream.url + "/")
    monkeypatch.setenv("TEST_AZURE_DEPLOYMENT", "prod-4o")
    config = azure_config("env.TEST_AZURE_ENDPOINT", deployments={"gpt-4o": "env.TEST_AZURE_DEPLOYMENT"})
    del config["providers"]["azure"]["keys"][0]["azure_key_config"]["api_version"]
    gw = await make_gateway(config)
    fake_upstream.script(DEPLOYED, Reply.json(openai_completion()))
    async with gw.openai() as client:
        await client.chat.completions.create(model=MODEL, messages=USER_HI)
    assert only_request(fake_upstream).query == {"api-version": "2024-10-21"}


async def test_models_listing_names_mapped_models(gateway: Gateway) -> None:
    async with gateway.openai() as client:
        ids = [m.id async for m in client.models.list()]
    assert MODEL in ids


async def test_invalid_key_config_fails_at_start_up(fake_upstream: FakeUpstream, make_gateway: MakeGateway) -> None:
    config = azure_config("not-a-url", api_version="")
    with pytest.raises(ConfigError) as caught:
        await make_gateway(config)
    where = "$.providers.azure.keys[0].azure_key_config"
    assert sorted(e.split(":")[0] for e in caught.value.errors) == [f"{where}.api_version", f"{where}.endpoint"]
