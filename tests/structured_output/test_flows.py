"""The structured_output plugin end to end, through the official SDKs: native on Anthropic, a repair after an
answer that misses a required field, a 502 naming the failing path when it stays invalid, tool mode on an
OpenAI-compatible server that would answer prose, prompt mode with a fenced answer, and the mock's demo."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest

from gateway.testing import (
    FakeUpstream,
    Reply,
    ToolUse,
    anthropic_message,
    anthropic_sse,
    anthropic_usage,
    openai_completion,
    openai_sse,
)
from tests.conftest import MakeGateway, upstream_config
from tests.fakes.structured import GOOD, MISSING, SCHEMA
from tests.http.async_helpers import submit, wait_done
from tests.structured_output.matrix import City

UP_MESSAGES = "/v1/messages"
UP_CHAT = "/v1/chat/completions"
FORMAT: Any = {"format": {"type": "json_schema", "schema": SCHEMA}}
HI: Any = [{"role": "user", "content": "Which city? JSON please."}]


def text_of(message: anthropic.types.Message) -> str:
    block = message.content[0]
    assert block.type == "text", message
    return block.text


def tool_call(arguments: str, name: str = "bf_structured_output") -> dict[str, Any]:
    """An OpenAI chat completion whose answer is one call of `name`."""
    completion = openai_completion("", finish_reason="tool_calls")
    completion["choices"][0]["message"] = {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}],
    }
    return completion


def custom_server(url: str) -> dict[str, Any]:
    """A self-hosted OpenAI-compatible server (tool mode by default) next to anthropic on the fake."""
    config = upstream_config(url)
    config["providers"]["vllm"] = {
        "keys": [{"name": "v", "value": "sk-vllm"}],
        "network_config": {"base_url": url},
        "custom_provider_config": {"base_provider_type": "openai"},
    }
    return config


async def test_native_on_anthropic_passes_a_valid_answer(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(UP_MESSAGES, Reply.json(anthropic_message(GOOD)))
    gw = await make_gateway(upstream_config(fake_upstream.url))
    async with gw.anthropic() as client:
        raw = await client.messages.with_raw_response.create(
            model="claude-x", max_tokens=100, messages=HI, output_config=FORMAT
        )
    assert raw.headers["x-bf-structured-output"] == "native"
    assert raw.headers["x-bf-structured-output-attempts"] == "1"
    assert json.loads(text_of(await raw.parse())) == json.loads(GOOD)
    [sent] = fake_upstream.requests_to(UP_MESSAGES)
    assert sent.json["output_config"] == FORMAT  # the client's own field, relayed


async def test_an_invalid_answer_is_repaired_and_billed_whole(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(
        UP_MESSAGES,
        Reply.json(anthropic_message(MISSING, usage=anthropic_usage(100, 10))),
        Reply.json(anthropic_message(GOOD, usage=anthropic_usage(150, 12))),
    )
    gw = await make_gateway(upstream_config(fake_upstream.url))
    async with gw.anthropic() as client:
        raw = await client.messages.with_raw_response.create(
            model="claude-x", max_tokens=100, messages=HI, output_config=FORMAT
        )
    message = await raw.parse()
    assert json.loads(text_of(message)) == json.loads(GOOD)
    assert raw.headers["x-bf-structured-output-attempts"] == "2"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (250, 22)
    repair = fake_upstream.requests_to(UP_MESSAGES)[1].json
    assert repair["messages"][-2] == {"role": "assistant", "content": MISSING}
    assert "population" in repair["messages"][-1]["content"]  # the validator's error, for the model to fix


@pytest.mark.parametrize("dialect", ["anthropic", "openai"])
async def test_still_invalid_is_a_502_naming_the_path(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, dialect: str
) -> None:
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message('{"city": "Paris", "population": "many"}')))
    gw = await make_gateway(upstream_config(fake_upstream.url))
    status, message = 0, ""
    if dialect == "anthropic":
        async with gw.anthropic(max_retries=0) as client:
            with pytest.raises(anthropic.InternalServerError) as caught:
                await client.messages.create(model="claude-x", max_tokens=100, messages=HI, output_config=FORMAT)
            status, message = caught.value.status_code, str(caught.value)
    else:
        async with gw.openai(max_retries=0) as client:
            with pytest.raises(openai.InternalServerError) as raised:
                await client.chat.completions.parse(
                    model="anthropic/claude-x", messages=HI, response_format=City, max_tokens=100
                )
            status, message = raised.value.status_code, str(raised.value)
    assert status == 502
    assert "at population" in message and "2 answers" in message
    assert len(fake_upstream.requests_to(UP_MESSAGES)) == 2  # the answer and one repair (the default)


async def test_tool_mode_on_a_server_that_ignores_response_format(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(UP_CHAT, Reply.json(tool_call(GOOD)))
    gw = await make_gateway(custom_server(fake_upstream.url))
    async with gw.openai() as client:
        raw = await client.chat.completions.with_raw_response.parse(
            model="vllm/qwen", messages=HI, response_format=City
        )
    parsed = raw.parse()  # the legacy raw response: parse() is synchronous
    assert raw.headers["x-bf-structured-output"] == "tool"
    assert parsed.choices[0].message.parsed == City(city="Paris", population=2100000)
    assert parsed.choices[0].finish_reason == "stop" and not parsed.choices[0].message.tool_calls
    [sent] = fake_upstream.requests_to(UP_CHAT)
    assert "response_format" not in sent.json
    assert sent.json["tool_choice"] == {"type": "function", "function": {"name": "bf_structured_output"}}


async def test_prompt_mode_strips_a_fence(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(UP_CHAT, Reply.json(openai_completion(f"```json\n{GOOD}\n```")))
    config = custom_server(fake_upstream.url)
    config["providers"]["vllm"]["structured_output"] = {"mode": "prompt"}
    gw = await make_gateway(config)
    async with gw.anthropic() as client:
        raw = await client.messages.with_raw_response.create(
            model="vllm/tiny", max_tokens=100, messages=HI, output_config=FORMAT
        )
    assert raw.headers["x-bf-structured-output"] == "prompt"
    assert json.loads(text_of(await raw.parse())) == json.loads(GOOD)
    [sent] = fake_upstream.requests_to(UP_CHAT)
    assert "response_format" not in sent.json and "tools" not in sent.json
    assert '"population"' in sent.json["messages"][0]["content"]  # the schema, in the system prompt


async def test_the_mock_answers_in_the_schema(make_gateway: MakeGateway) -> None:
    gw = await make_gateway({"providers": {"mock": {}}})
    async with gw.anthropic() as client:
        parsed = await client.messages.parse(model="mock-model", max_tokens=200, messages=HI, output_format=City)
    assert isinstance(parsed.parsed_output, City)


async def test_a_stream_is_checked_before_its_end(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    """The JSON went out as it came; the missing field ends the stream with an error event, not message_stop."""
    fake_upstream.script(UP_MESSAGES, Reply.sse(anthropic_sse(['{"city": ', '"Paris"}'])))
    gw = await make_gateway(upstream_config(fake_upstream.url))
    body = {"model": "claude-x", "max_tokens": 100, "messages": HI, "output_config": FORMAT, "stream": True}
    async with gw.http() as http:
        answer = await http.post("/anthropic/v1/messages", body)
    events = answer.events()
    texts = [e.json()["delta"]["text"] for e in events if e.event == "content_block_delta"]
    assert texts == ['{"city": ', '"Paris"}']
    assert events[-1].event == "error" and "message_stop" not in [e.event for e in events]
    assert (
        "at (root)" in events[-1].json()["error"]["message"] and "population" in events[-1].json()["error"]["message"]
    )


WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "strict": True,
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["C", "F"]}},
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
    },
}


async def test_a_strict_tools_invalid_input_is_repaired(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    """A self-hosted server that does not hold its model to `strict`: the gateway does, with a repair turn."""
    fake_upstream.script(
        UP_CHAT,
        Reply.json(tool_call('{"city": "Paris", "unit": "kelvin"}', name="get_weather")),
        Reply.json(tool_call('{"city": "Paris", "unit": "C"}', name="get_weather")),
    )
    gw = await make_gateway(custom_server(fake_upstream.url))
    async with gw.openai() as client:
        raw = await client.chat.completions.with_raw_response.create(model="vllm/qwen", messages=HI, tools=[WEATHER])
    completion = raw.parse()
    [call] = completion.choices[0].message.tool_calls or []
    assert call.type == "function" and json.loads(call.function.arguments) == {"city": "Paris", "unit": "C"}
    assert completion.choices[0].finish_reason == "tool_calls"
    assert raw.headers["x-bf-structured-output-attempts"] == "2"
    assert "x-bf-structured-output" not in raw.headers  # strict tools only: no structured answer was asked for
    repair = fake_upstream.requests_to(UP_CHAT)[1].json["messages"]
    assert repair[-1]["role"] == "tool" and "unit" in repair[-1]["content"]


async def test_a_strict_tools_invalid_input_ends_a_stream_with_an_error(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    chunks = openai_sse((), tool_calls=[ToolUse("call_1", "get_weather", {"city": "Paris"})])
    fake_upstream.script(UP_CHAT, Reply.sse(chunks))
    gw = await make_gateway(custom_server(fake_upstream.url))
    body = {"model": "vllm/qwen", "messages": HI, "tools": [WEATHER], "stream": True}
    async with gw.http() as http:
        answer = await http.post("/v1/chat/completions", body, {"anthropic-version": None})
    last = answer.events()[-1].json()
    assert "get_weather" in last["error"]["message"] and "unit" in last["error"]["message"]
    assert last["error"]["type"] == "server_error"
    assert answer.events()[-1].data != "[DONE]"


async def test_an_async_job_gets_the_repaired_answer(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    """A job runs the same pipeline: its stored result is the repaired, valid answer, with both calls' usage."""
    fake_upstream.script(
        UP_MESSAGES,
        Reply.json(anthropic_message(MISSING, usage=anthropic_usage(100, 10))),
        Reply.json(anthropic_message(GOOD, usage=anthropic_usage(150, 12))),
    )
    gw = await make_gateway(upstream_config(fake_upstream.url))
    body = {"model": "claude-x", "max_tokens": 100, "messages": HI, "output_config": FORMAT}
    async with gw.http() as http:
        accepted = await submit(http, "/anthropic/v1/messages", body)
        done = await wait_done(http, "/anthropic/v1/messages", accepted.headers["x-bf-async-id"])
    assert done.status == 200, done
    answer = done.json()
    assert json.loads(answer["content"][0]["text"]) == json.loads(GOOD)
    assert (answer["usage"]["input_tokens"], answer["usage"]["output_tokens"]) == (250, 22)
    assert len(fake_upstream.requests_to(UP_MESSAGES)) == 2
