"""Strict tools (Anthropic `strict: true` on a tool, OpenAI `function.strict`): the upstream's tool-call inputs are
validated against the tool's schema like a structured answer, repaired with the validator's error, and a 502
naming the path when they stay invalid."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest

from gateway.testing import FakeUpstream, MakeGateway, Reply, ToolUse, anthropic_message, openai_completion
from tests.fakes.structured import ANTHROPIC, VLLM, Wire
from tests.structured_output.matrix import DIALECTS, HI, Dialect

WEATHER: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
    "required": ["city", "unit"],
    "additionalProperties": False,
}
GOOD_INPUT = {"city": "Paris", "unit": "c"}
BAD_INPUT = {"city": "Paris"}
WIRES = pytest.mark.parametrize("wire", [ANTHROPIC, VLLM], ids=["anthropic", "custom"])


def called(wire: Wire, tool_input: dict[str, Any]) -> Reply:
    use = ToolUse("toolu_w", "get_weather", tool_input)
    if wire is ANTHROPIC:
        return Reply.json(anthropic_message(None, tool_uses=[use]))
    return Reply.json(openai_completion(None, tool_calls=[use]))


async def call_tool(gw: Any, wire: Wire, dialect: Dialect) -> tuple[int, str]:
    """(status, the tool input the client got as JSON, or the error's message)."""
    try:
        if dialect == "anthropic":
            tool: Any = {"name": "get_weather", "description": "w", "input_schema": WEATHER, "strict": True}
            async with gw.anthropic() as client:
                message = await client.messages.create(model=wire.routed, max_tokens=100, messages=HI, tools=[tool])
            [block] = [b for b in message.content if b.type == "tool_use"]
            return 200, json.dumps(block.input)
        function: Any = {"name": "get_weather", "description": "w", "parameters": WEATHER, "strict": True}
        async with gw.openai() as openai_client:
            completion = await openai_client.chat.completions.create(
                model=wire.routed, messages=HI, tools=[{"type": "function", "function": function}]
            )
        [tool_call] = completion.choices[0].message.tool_calls or []
        return 200, tool_call.function.arguments
    except (anthropic.APIStatusError, openai.APIStatusError) as error:
        return error.status_code, str(error)


@WIRES
@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_valid_strict_call_passes_in_one_call(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, wire: Wire, dialect: Dialect
) -> None:
    fake_upstream.script(wire.path, called(wire, GOOD_INPUT))
    gw = await make_gateway(wire.config(fake_upstream.url))
    status, text = await call_tool(gw, wire, dialect)
    assert (status, json.loads(text)) == (200, GOOD_INPUT)
    assert len(wire.sent(fake_upstream.requests)) == 1


@WIRES
@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_strict_call_missing_a_field_is_repaired(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, wire: Wire, dialect: Dialect
) -> None:
    fake_upstream.script(wire.path, called(wire, BAD_INPUT), called(wire, GOOD_INPUT))
    gw = await make_gateway(wire.config(fake_upstream.url))
    status, text = await call_tool(gw, wire, dialect)
    assert status == 200, text
    assert json.loads(text) == GOOD_INPUT
    first, repair = wire.sent(fake_upstream.requests)
    assert len(wire.turns(repair)) == len(wire.turns(first)) + 2  # the bad call and its error result
    assert "unit" in wire.turns(repair)[-1][1]  # the validator's error, for the model


@WIRES
@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_strict_call_that_stays_invalid_is_a_502_naming_the_path(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, wire: Wire, dialect: Dialect
) -> None:
    fake_upstream.default(wire.path, called(wire, BAD_INPUT))
    gw = await make_gateway(wire.config(fake_upstream.url))
    status, text = await call_tool(gw, wire, dialect)
    assert status == 502, text
    assert "unit" in text
    assert len(wire.sent(fake_upstream.requests)) == 2
