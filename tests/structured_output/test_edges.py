"""The answers structured output passes on or refuses without a repair: an answer cut at max_tokens (a repair would
be cut too: a 502 at once), a refusal (passed on unchecked), a turn that calls one of the client's own tools in
tool mode (not the final answer); and the beta `output_format` field, which lands where `output_config` does."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest

from gateway.testing import FakeUpstream, MakeGateway, Reply, ToolUse, anthropic_message, anthropic_sse, anthropic_usage
from tests.fakes.structured import ANTHROPIC, GOOD, MISSING, SCHEMA, TOOL
from tests.structured_output.matrix import DIALECTS, HI, Dialect, ask

FORMAT: Any = {"format": {"type": "json_schema", "schema": SCHEMA}}
WEATHER: Any = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def stopped(text: str, stop_reason: str) -> Reply:
    return Reply.json(anthropic_message(text, stop_reason=stop_reason, usage=anthropic_usage(10, 5)))


@pytest.mark.parametrize("mode", ["native", "prompt"])
@pytest.mark.parametrize("dialect", DIALECTS)
async def test_an_answer_cut_at_max_tokens_is_a_502_without_a_repair(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, mode: str, dialect: Dialect
) -> None:
    fake_upstream.default(ANTHROPIC.path, stopped('{"city": "Par', "max_tokens"))
    gw = await make_gateway(ANTHROPIC.config(fake_upstream.url, {"mode": mode}))
    asked = await ask(gw, ANTHROPIC.routed, dialect)
    assert asked.status == 502, asked
    assert "max_tokens" in asked.text
    assert len(ANTHROPIC.sent(fake_upstream.requests)) == 1


async def test_a_refusal_is_passed_on_unchecked(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(ANTHROPIC.path, stopped("I can't help with that.", "refusal"))
    gw = await make_gateway(ANTHROPIC.config(fake_upstream.url))
    async with gw.anthropic() as client:
        message = await client.messages.create(
            model=ANTHROPIC.routed, max_tokens=100, messages=HI, output_config=FORMAT
        )
    assert message.stop_reason == "refusal"
    assert message.content[0].type == "text" and message.content[0].text == "I can't help with that."
    assert len(ANTHROPIC.sent(fake_upstream.requests)) == 1


async def test_a_call_of_the_clients_own_tool_is_passed_on_in_tool_mode(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    """The model needs the client's tool before it can answer: that turn is not the structured answer."""
    use = ToolUse("toolu_w", "get_weather", {"city": "Paris"})
    fake_upstream.script(ANTHROPIC.path, Reply.json(anthropic_message(None, tool_uses=[use])))
    gw = await make_gateway(ANTHROPIC.config(fake_upstream.url, {"mode": "tool"}))
    async with gw.anthropic() as client:
        message = await client.messages.create(
            model=ANTHROPIC.routed, max_tokens=100, messages=HI, output_config=FORMAT, tools=[WEATHER]
        )
    assert message.stop_reason == "tool_use"
    [block] = message.content
    assert block.type == "tool_use" and block.name == "get_weather" and block.input == {"city": "Paris"}
    [sent] = ANTHROPIC.sent(fake_upstream.requests)
    assert [t["name"] for t in sent["tools"]] == ["get_weather", TOOL]
    assert len(ANTHROPIC.sent(fake_upstream.requests)) == 1


@pytest.mark.parametrize("mode", ["native", "tool"])
async def test_the_beta_output_format_field_is_the_same_contract(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, mode: str
) -> None:
    answer = ANTHROPIC.tool if mode == "tool" else ANTHROPIC.text
    fake_upstream.script(ANTHROPIC.path, answer(MISSING, 10, 5), answer(GOOD, 10, 5))
    gw = await make_gateway(ANTHROPIC.config(fake_upstream.url, {"mode": mode}))
    output_format = {"type": "json_schema", "schema": SCHEMA}
    async with gw.anthropic() as client:
        raw = await client.messages.with_raw_response.create(
            model=ANTHROPIC.routed, max_tokens=100, messages=HI, extra_body={"output_format": output_format}
        )
    message = await raw.parse()
    assert (raw.headers["x-bf-structured-output"], raw.headers["x-bf-structured-output-attempts"]) == (mode, "2")
    assert message.content[0].type == "text" and json.loads(message.content[0].text) == json.loads(GOOD)
    assert message.stop_reason == "end_turn"


async def test_a_bad_beta_output_format_schema_names_its_field(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    gw = await make_gateway(ANTHROPIC.config(fake_upstream.url))
    output_format = {"type": "json_schema", "schema": {"type": "object", "required": "city"}}
    async with gw.anthropic() as client:
        with pytest.raises(anthropic.BadRequestError) as raised:
            await client.messages.create(
                model=ANTHROPIC.routed, max_tokens=100, messages=HI, extra_body={"output_format": output_format}
            )
    assert "output_format.schema.required" in str(raised.value)
    assert fake_upstream.requests == []


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_preamble_before_the_tool_call_is_not_part_of_the_answer(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, dialect: Dialect, stream: bool
) -> None:
    use = ToolUse("toolu_so", TOOL, json.loads(GOOD))
    reply = (
        Reply.sse(anthropic_sse(["Sure, here it is:"], tool_uses=[use]))
        if stream
        else Reply.json(anthropic_message("Sure, here it is:", tool_uses=[use]))
    )
    fake_upstream.script(ANTHROPIC.path, reply)
    gw = await make_gateway(ANTHROPIC.config(fake_upstream.url, {"mode": "tool"}))
    asked = await ask(gw, ANTHROPIC.routed, dialect, stream=stream)
    assert asked.status == 200 and json.loads(asked.text) == json.loads(GOOD), asked
    assert "Sure" not in asked.text


@pytest.mark.parametrize("stream", [False, True])
async def test_tool_mode_with_thinking_asks_without_forcing_and_keeps_the_thinking(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, stream: bool
) -> None:
    """Anthropic refuses a forced tool_choice with thinking on: the tool is offered (auto) and the model told."""
    use = ToolUse("toolu_so", TOOL, json.loads(GOOD))
    reply = (
        Reply.sse(anthropic_sse([], thinking="hmm", tool_uses=[use]))
        if stream
        else Reply.json(anthropic_message(None, thinking="hmm", tool_uses=[use]))
    )
    fake_upstream.script(ANTHROPIC.path, reply)
    gw = await make_gateway(ANTHROPIC.config(fake_upstream.url, {"mode": "tool"}))
    kwargs: Any = {
        "model": ANTHROPIC.routed,
        "max_tokens": 2000,
        "messages": HI,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "output_config": FORMAT,
    }
    async with gw.anthropic() as client:
        if stream:
            async with client.messages.stream(**kwargs) as events:
                message = await events.get_final_message()
        else:
            message = await client.messages.create(**kwargs)
    assert [b.type for b in message.content] == ["thinking", "text"] and message.stop_reason == "end_turn"
    assert json.loads(message.content[1].text) == json.loads(GOOD)  # type: ignore[union-attr]
    [sent] = ANTHROPIC.sent(fake_upstream.requests)
    assert sent["tool_choice"] == {"type": "auto"}
    assert TOOL in ANTHROPIC.system(sent)
