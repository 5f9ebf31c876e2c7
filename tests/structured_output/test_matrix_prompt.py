"""Prompt mode (the schema in the system prompt, for servers with no tool calling) on every provider kind, from
both SDKs: no native field and no tool go upstream; a fenced answer is unwrapped; a repair shows the model its
answer and the validator's error; still invalid is a 502 after the configured repairs."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.testing import FakeUpstream, MakeGateway
from tests.fakes.structured import ALL_WIRES, BEDROCK_LLAMA, GOOD, MISSING, PROSE, WRONG_TYPE, Wire
from tests.structured_output.matrix import DIALECTS, City, Dialect, ask

PROMPT_WIRES = (*ALL_WIRES, BEDROCK_LLAMA)
WIRES = pytest.mark.parametrize("wire", PROMPT_WIRES, ids=[w.name for w in PROMPT_WIRES])
BOTH = pytest.mark.parametrize("dialect", DIALECTS)
GOOD_CITY = City.model_validate_json(GOOD)


def prompt_config(wire: Wire, url: str, **extra: Any) -> dict[str, Any]:
    return wire.config(url, {"mode": "prompt", **extra})


def assert_prompt_request(wire: Wire, sent: Any) -> None:
    assert wire.native_schema(sent) is None, sent
    assert wire.forced_tool(sent) is None, sent
    assert "bf_structured_output" not in str(sent)
    system = wire.system(sent)
    assert "population" in system and "city" in system, sent  # the schema, in the system prompt


@WIRES
@BOTH
@pytest.mark.parametrize("fenced", [False, True])
async def test_the_schema_goes_in_the_system_prompt(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, wire: Wire, dialect: Dialect, fenced: bool
) -> None:
    fake_upstream.script(wire.path, wire.text(f"```json\n{GOOD}\n```" if fenced else GOOD, 10, 5))
    gw = await make_gateway(prompt_config(wire, fake_upstream.url))
    asked = await ask(gw, wire.routed, dialect)
    assert asked.status == 200, asked
    assert asked.parsed == GOOD_CITY
    assert "```" not in asked.text
    assert asked.finish == ("end_turn" if dialect == "anthropic" else "stop")
    assert asked.headers["x-bf-structured-output"] == "prompt"
    assert asked.headers["x-bf-structured-output-attempts"] == "1"
    [sent] = wire.sent(fake_upstream.requests)
    assert_prompt_request(wire, sent)


@WIRES
@BOTH
async def test_a_missing_field_is_repaired_in_prompt_mode(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, wire: Wire, dialect: Dialect
) -> None:
    fake_upstream.script(wire.path, wire.text(MISSING, 100, 10), wire.text(GOOD, 150, 12))
    gw = await make_gateway(prompt_config(wire, fake_upstream.url))
    asked = await ask(gw, wire.routed, dialect)
    assert asked.status == 200, asked
    assert asked.parsed == GOOD_CITY
    assert asked.headers["x-bf-structured-output-attempts"] == "2"
    first, repair = wire.sent(fake_upstream.requests)
    assert_prompt_request(wire, repair)
    (said_role, said), (asked_role, error) = wire.turns(repair)[-2:]
    assert said_role == "assistant" and "Paris" in said, repair
    assert asked_role == "user" and "population" in error, repair
    assert len(wire.turns(repair)) == len(wire.turns(first)) + 2


@WIRES
@pytest.mark.parametrize("repairs", [0, 2])
async def test_prose_or_a_wrong_type_is_a_502_after_the_repairs(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, wire: Wire, repairs: int
) -> None:
    gw = await make_gateway(prompt_config(wire, fake_upstream.url, max_repair_attempts=repairs))
    for dialect, answer in zip(DIALECTS, (PROSE, WRONG_TYPE), strict=True):
        fake_upstream.default(wire.path, wire.text(answer, 10, 5))
        asked = await ask(gw, wire.routed, dialect)
        assert asked.status == 502, asked
        assert ("(1 answer)" if repairs == 0 else f"({repairs + 1} answers)") in asked.text
        if answer == WRONG_TYPE:
            assert "population" in asked.text and "integer" in asked.text
    assert len(wire.sent(fake_upstream.requests)) == 2 * (repairs + 1)
