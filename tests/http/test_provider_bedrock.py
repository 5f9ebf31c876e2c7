"""Anthropic and OpenAI SDKs -> gateway -> a fake Bedrock runtime (Converse / ConverseStream), end to end.

The fake checks nothing itself; the tests read what it recorded: the Converse body, the path with the model id,
and a SigV4 signature that an independent implementation of the AWS algorithm must accept.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest
from aiohttp import ClientSession
from anthropic.types import MessageParam, ToolParam
from openai.types.chat import ChatCompletionFunctionToolParam

from gateway.app import create_app
from gateway.config import ConfigError, parse_settings
from gateway.providers.base import NoOptions, ProviderSetup
from gateway.providers.upstream import UpstreamClient
from gateway.testing import FakeUpstream, Recorded, ToolUse
from gateway_plugins.provider_bedrock.provider import BedrockProvider
from tests.conftest import CLIENT_KEY, Gateway, MakeGateway
from tests.fakes.bedrock import (
    ACCESS_KEY,
    BEDROCK_MODEL,
    EVENT_STREAM,
    REGION,
    SECRET_KEY,
    converse_path,
    converse_response,
    converse_stream,
    converse_usage,
    error_reply,
    exception_event,
    json_reply,
    signature_verifies,
    split_bytes,
    stream_reply,
)
from tests.http.anthropic_helpers import HI, WEATHER_SCHEMA
from tests.http.openai_helpers import USER_HI, function_calls

MODEL = f"bedrock/{BEDROCK_MODEL}"
CONVERSE = converse_path()
STREAM = converse_path(stream=True)
WEATHER = ToolUse("tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "get_weather", {"city": "Paris"})


def bedrock_config(url: str, network: dict[str, Any] | None = None, **key: Any) -> dict[str, Any]:
    credentials = {"region": REGION, "access_key": ACCESS_KEY, "secret_key": SECRET_KEY, **key}
    return {
        "providers": {
            "bedrock": {
                "keys": [{"name": "b", "value": "", "bedrock_key_config": credentials}],
                "network_config": {"base_url": url, **(network or {})},
            }
        }
    }


@pytest.fixture
async def gateway(fake_upstream: FakeUpstream, make_gateway: MakeGateway) -> Gateway:
    return await make_gateway(bedrock_config(fake_upstream.url))


def _only(fake: FakeUpstream, path: str) -> Recorded:
    [request] = fake.requests_to(path)
    return request


def assert_signed(request: Recorded) -> None:
    """SigV4 over what arrived; the client's own key went nowhere."""
    assert request.headers["Authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{request.headers['X-Amz-Date'][:8]}/{REGION}/bedrock/aws4_request, "
    )
    assert signature_verifies(request)
    assert "x-api-key" not in request.headers
    assert all(CLIENT_KEY not in value for value in request.headers.values())


# --- Anthropic SDK --------------------------------------------------------------------------------------------


async def test_anthropic_create(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    usage = converse_usage(30, 12, cache_read=5)
    fake_upstream.script(CONVERSE, json_reply(converse_response("Hello from Bedrock", usage=usage)))
    async with gateway.anthropic() as client:
        message = await client.messages.create(
            model=MODEL, max_tokens=64, system="Be brief.", messages=HI, extra_body={"temperature": 0.2}
        )
    assert message.model == MODEL
    assert message.id.startswith("msg_bdrk_")
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "Hello from Bedrock"  # type: ignore[union-attr]
    assert (message.stop_reason, message.stop_sequence) == ("end_turn", None)
    assert (message.usage.input_tokens, message.usage.output_tokens, message.usage.cache_read_input_tokens) == (
        30,
        12,
        5,
    )
    request = _only(fake_upstream, CONVERSE)
    assert request.json == {
        "messages": [{"role": "user", "content": [{"text": "hi"}]}],
        "system": [{"text": "Be brief."}],
        "inferenceConfig": {"maxTokens": 64, "temperature": 0.2},
    }
    assert request.headers["Content-Type"] == "application/json"
    assert_signed(request)


async def test_anthropic_stream_thinking_text_and_tool(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    frames = converse_stream(("Hel", "lo"), reasoning=("Think", "ing"), tool_uses=[WEATHER])
    fake_upstream.script(STREAM, stream_reply(split_bytes(frames, 45)))  # messages straddle writes
    async with gateway.anthropic() as client:
        async with client.messages.stream(model=MODEL, max_tokens=2048, messages=HI) as stream:
            texts = [text async for text in stream.text_stream]
            final = await stream.get_final_message()
    assert "".join(texts) == "Hello"
    assert [b.type for b in final.content] == ["thinking", "text", "tool_use"]
    assert final.content[0].thinking == "Thinking"  # type: ignore[union-attr]
    assert final.content[2].input == {"city": "Paris"}  # type: ignore[union-attr]
    assert final.content[2].id == WEATHER.id  # type: ignore[union-attr]
    assert final.stop_reason == "tool_use"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (25, 40)
    request = _only(fake_upstream, STREAM)
    assert request.headers["Accept"] == EVENT_STREAM
    assert request.json["inferenceConfig"] == {"maxTokens": 2048}
    assert_signed(request)


async def test_anthropic_tool_round_trip(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(
        CONVERSE,
        json_reply(converse_response("Checking.", tool_uses=[WEATHER])),
        json_reply(converse_response("18C and sunny in Paris.")),
    )
    tool: ToolParam = {"name": "get_weather", "description": "Weather for a city", "input_schema": WEATHER_SCHEMA}
    async with gateway.anthropic() as client:
        first = await client.messages.create(
            model=MODEL,
            max_tokens=256,
            tools=[tool],
            tool_choice={"type": "auto"},
            messages=HI,
        )
        assert first.stop_reason == "tool_use"
        use = first.content[1]
        assert use.type == "tool_use" and use.input == {"city": "Paris"}
        followup: list[MessageParam] = [
            *HI,
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "18C sunny"}]},
        ]
        second = await client.messages.create(model=MODEL, max_tokens=256, tools=[tool], messages=followup)
    assert second.content[0].text == "18C and sunny in Paris."  # type: ignore[union-attr]
    body = fake_upstream.requests_to(CONVERSE)[1].json
    assert body["messages"][1] == {
        "role": "assistant",
        "content": [
            {"text": "Checking."},
            {"toolUse": {"toolUseId": WEATHER.id, "name": "get_weather", "input": {"city": "Paris"}}},
        ],
    }
    assert body["messages"][2] == {
        "role": "user",
        "content": [{"toolResult": {"toolUseId": WEATHER.id, "content": [{"text": "18C sunny"}]}}],
    }
    spec = {"name": "get_weather", "description": "Weather for a city", "inputSchema": {"json": WEATHER_SCHEMA}}
    assert body["toolConfig"] == {"tools": [{"toolSpec": spec}]}
    assert fake_upstream.requests_to(CONVERSE)[0].json["toolConfig"]["toolChoice"] == {"auto": {}}


async def test_anthropic_count_tokens_is_a_local_estimate(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    async with gateway.anthropic() as client:
        counted = await client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "hello there"}])
    assert counted.input_tokens > 0
    assert fake_upstream.requests == []


# --- OpenAI SDK -----------------------------------------------------------------------------------------------


async def test_openai_create(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    usage = converse_usage(30, 12, cache_read=8)
    fake_upstream.script(CONVERSE, json_reply(converse_response("Hi from Bedrock", usage=usage)))
    async with gateway.openai() as client:
        completion = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "system", "content": "Terse."}, *USER_HI], max_tokens=50, stop=["END"]
        )
    assert completion.model == MODEL
    assert completion.choices[0].message.content == "Hi from Bedrock"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (38, 12)
    request = _only(fake_upstream, CONVERSE)
    assert request.json["system"] == [{"text": "Terse."}]
    assert request.json["inferenceConfig"] == {"maxTokens": 50, "stopSequences": ["END"]}
    assert request.json["additionalModelResponseFieldPaths"] == ["/stop_sequence"]
    assert_signed(request)


async def test_openai_stream_with_usage(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(STREAM, stream_reply(converse_stream(("Hel", "lo", "!"), usage=converse_usage(7, 3))))
    async with gateway.openai() as client:
        stream = await client.chat.completions.create(
            model=MODEL, messages=USER_HI, stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello!"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].usage is not None and (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (
        7,
        3,
    )
    assert_signed(_only(fake_upstream, STREAM))


async def test_openai_tool_round_trip(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(
        CONVERSE,
        json_reply(converse_response(None, tool_uses=[WEATHER])),
        json_reply(converse_response("Sunny.")),
    )
    tools: list[ChatCompletionFunctionToolParam] = [
        {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA}}
    ]
    async with gateway.openai() as client:
        first = await client.chat.completions.create(model=MODEL, messages=USER_HI, tools=tools, tool_choice="required")
        [call] = function_calls(first.choices[0].message.tool_calls)
        assert first.choices[0].finish_reason == "tool_calls"
        assert (call.id, call.function.name, json.loads(call.function.arguments)) == (
            WEATHER.id,
            "get_weather",
            {"city": "Paris"},
        )
        messages: Any = [
            *USER_HI,
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
        ]
        second = await client.chat.completions.create(model=MODEL, messages=messages)  # no tools this time
    assert second.choices[0].message.content == "Sunny."
    first_body, second_body = (r.json for r in fake_upstream.requests_to(CONVERSE))
    assert first_body["toolConfig"]["toolChoice"] == {"any": {}}
    assert second_body["messages"][2] == {
        "role": "user",
        "content": [{"toolResult": {"toolUseId": WEATHER.id, "content": [{"text": "sunny"}]}}],
    }
    # The client dropped its tools; Converse still needs the tools the conversation used declared.
    assert [t["toolSpec"]["name"] for t in second_body["toolConfig"]["tools"]] == ["get_weather"]


# --- errors ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type", "sdk_error"),
    [
        (400, "ValidationException", anthropic.BadRequestError),
        (429, "ThrottlingException", anthropic.RateLimitError),
        (500, "InternalServerException", anthropic.InternalServerError),
    ],
)
async def test_anthropic_errors_keep_their_status(
    gateway: Gateway, fake_upstream: FakeUpstream, status: int, error_type: str, sdk_error: type[Exception]
) -> None:
    fake_upstream.script(CONVERSE, error_reply(status, error_type, "The model said no."))
    async with gateway.anthropic() as client:
        with pytest.raises(sdk_error) as info:
            await client.messages.create(model=MODEL, max_tokens=16, messages=HI)
    assert isinstance(info.value, anthropic.APIStatusError) and info.value.status_code == status
    assert f"{error_type}: The model said no." in str(info.value)


async def test_openai_throttling_before_the_stream_is_a_429(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(STREAM, error_reply(429, "ThrottlingException", "Too many requests, please wait."))
    async with gateway.openai() as client:
        with pytest.raises(openai.RateLimitError) as info:
            await client.chat.completions.create(model=MODEL, messages=USER_HI, stream=True)
    assert "Too many requests" in str(info.value)


async def test_exception_mid_stream_ends_the_stream_with_an_error(
    gateway: Gateway, fake_upstream: FakeUpstream
) -> None:
    frames = [*converse_stream(("partial ", "answer"))[:2], exception_event("modelStreamErrorException", "boom")]
    fake_upstream.script(STREAM, stream_reply(frames))
    seen: list[str] = []
    async with gateway.anthropic() as client:
        async with client.messages.stream(model=MODEL, max_tokens=64, messages=HI) as stream:
            with pytest.raises(anthropic.APIStatusError) as info:
                async for text in stream.text_stream:
                    seen.append(text)
    assert seen == ["partial "]
    assert "boom" in str(info.value)


async def test_dropped_stream_is_an_error(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(STREAM, stream_reply(converse_stream(("a", "b", "c")), close_after=3))
    async with gateway.anthropic() as client:
        async with client.messages.stream(model=MODEL, max_tokens=64, messages=HI) as stream:
            with pytest.raises(anthropic.APIStatusError) as info:
                await stream.get_final_message()
    assert "upstream stream broke" in str(info.value)


async def test_silent_stream_times_out(fake_upstream: FakeUpstream, make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(bedrock_config(fake_upstream.url, {"stream_idle_timeout_in_seconds": 0.3}))
    fake_upstream.script(STREAM, stream_reply(converse_stream(("a",)), hang_after=2))
    async with gateway.anthropic() as client:
        async with client.messages.stream(model=MODEL, max_tokens=64, messages=HI) as stream:
            with pytest.raises(anthropic.APIStatusError) as info:
                await stream.get_final_message()
    assert "silent" in str(info.value)


async def test_invalid_converse_body_is_a_502(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(CONVERSE, json_reply({"output": "not an object"}))
    async with gateway.anthropic() as client:
        with pytest.raises(anthropic.APIStatusError) as info:
            await client.messages.create(model=MODEL, max_tokens=16, messages=HI)
    assert info.value.status_code == 502
    assert "invalid Converse response" in str(info.value)


async def test_retries_are_signed_afresh(fake_upstream: FakeUpstream, make_gateway: MakeGateway) -> None:
    config = bedrock_config(fake_upstream.url, {"max_retries": 1, "retry_backoff_initial": 1, "retry_backoff_max": 1})
    gateway = await make_gateway(config)
    fake_upstream.script(
        CONVERSE, error_reply(503, "ServiceUnavailableException", "busy"), json_reply(converse_response())
    )
    async with gateway.anthropic() as client:
        message = await client.messages.create(model=MODEL, max_tokens=16, messages=HI)
    assert message.content[0].text == "Hello from Bedrock"  # type: ignore[union-attr]
    requests = fake_upstream.requests_to(CONVERSE)
    assert len(requests) == 2 and all(signature_verifies(r) for r in requests)


# --- config and signing ---------------------------------------------------------------------------------------


async def test_session_token_is_sent_and_signed(fake_upstream: FakeUpstream, make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(bedrock_config(fake_upstream.url, session_token="FwoGZXIvYXdzEJr"))
    fake_upstream.script(CONVERSE, json_reply(converse_response()))
    async with gateway.anthropic() as client:
        await client.messages.create(model=MODEL, max_tokens=16, messages=HI)
    request = _only(fake_upstream, CONVERSE)
    assert request.headers["X-Amz-Security-Token"] == "FwoGZXIvYXdzEJr"
    assert "x-amz-security-token" in request.headers["Authorization"]
    assert signature_verifies(request)


async def test_invalid_key_config_is_a_config_error_with_its_path(fake_upstream: FakeUpstream) -> None:
    config = bedrock_config(fake_upstream.url, region="moon-base")
    config["providers"]["bedrock"]["keys"].append({"name": "bare", "value": "x"})
    with pytest.raises(ConfigError) as info:  # found by the registry's check, before anything starts
        create_app(parse_settings(config))
    assert info.value.errors == [
        "$.providers.bedrock.keys[0].bedrock_key_config.region: 'moon-base' is not an AWS region name (like us-east-1)",
        "$.providers.bedrock.keys[1]: missing bedrock_key_config {region, access_key, secret_key, session_token?}",
    ]


async def test_default_endpoint_is_the_regional_runtime() -> None:
    config = parse_settings(bedrock_config("unused"))
    provider_config = config.providers["bedrock"]
    provider_config = type(provider_config)(keys=provider_config.keys)  # no base_url
    async with ClientSession() as session:
        setup = ProviderSetup(name="bedrock", config=provider_config, options=NoOptions(), http=UpstreamClient(session))
        provider = BedrockProvider(setup)
    from gateway import ChatCall, Target
    from gateway.schemas import anthropic as a

    request = a.MessagesRequest(model=MODEL, max_tokens=5, messages=[a.MessageParam(role="user", content="x")])
    call = ChatCall(dialect="anthropic", stream=False, request=request, target=Target("bedrock", BEDROCK_MODEL))
    url, _, headers = provider._request(call, provider_config.keys[0], "converse", "application/json")
    assert url == f"https://bedrock-runtime.us-east-1.amazonaws.com/model/{BEDROCK_MODEL}/converse"
    assert "bedrock/aws4_request" in headers["Authorization"]
