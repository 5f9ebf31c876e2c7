"""What a repaired structured answer costs: the client is shown the sum of every answer's usage (it pays for all of
them), and governance records both calls, for a served answer and for a 502 after the repair, streamed (buffered)
or not."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from gateway.testing import FakeUpstream, MakeGateway
from tests.fakes.structured import ANTHROPIC, BEDROCK, GEMINI, GOOD, MISSING, VLLM, Wire
from tests.http.governance_helpers import VK_A, budget, config, settled, used, vk
from tests.plugins.test_call_target import Meter
from tests.structured_output.matrix import DIALECTS, HI, City, Dialect

WIRES_MODES: list[tuple[Wire, str]] = [(ANTHROPIC, "native"), (VLLM, "tool"), (GEMINI, "native"), (BEDROCK, "prompt")]
BOTH = pytest.mark.parametrize("dialect", DIALECTS)
KEY_BUDGET = "budget:vk:vk-a:0"
BOTH_COST = (100 + 150) * 1e-6 + (10 + 12) * 2e-6  # the test prices: 1e-6 per input token, 2e-6 per output token


def first_then(wire: Wire, mode: str, fake: FakeUpstream, second: str) -> None:
    if mode == "tool":
        fake.script(wire.path, wire.tool(MISSING, 100, 10), wire.tool(second, 150, 12))
    else:
        fake.script(wire.path, wire.text(MISSING, 100, 10), wire.text(second, 150, 12))


@pytest.mark.parametrize(("wire", "mode"), WIRES_MODES, ids=[f"{w.name}-{m}" for w, m in WIRES_MODES])
@BOTH
async def test_the_client_is_shown_the_usage_of_every_answer(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, wire: Wire, mode: str, dialect: Dialect
) -> None:
    first_then(wire, mode, fake_upstream, GOOD)
    gw = await make_gateway(wire.config(fake_upstream.url, {"mode": mode}))
    if dialect == "anthropic":
        async with gw.anthropic() as client:
            message = await client.messages.parse(model=wire.routed, max_tokens=100, messages=HI, output_format=City)
        assert (message.usage.input_tokens, message.usage.output_tokens) == (250, 22)
    else:
        async with gw.openai() as openai_client:
            completion = await openai_client.chat.completions.parse(
                model=wire.routed, messages=HI, response_format=City
            )
        assert completion.usage is not None
        assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (250, 22)


async def test_a_buffered_stream_shows_the_summed_usage(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(
        ANTHROPIC.path, ANTHROPIC.stream_text(("{", '"city": "Paris"}')), ANTHROPIC.text(GOOD, 150, 12)
    )
    gw = await make_gateway(ANTHROPIC.config(fake_upstream.url, {"buffer_streams": True}))
    async with gw.anthropic() as client:
        async with client.messages.stream(
            model=ANTHROPIC.routed, max_tokens=100, messages=HI, output_format=City
        ) as events:
            message = await events.get_final_message()
    # the fake stream's usage is anthropic_usage()'s default: 25 in, 40 out
    assert (message.usage.input_tokens, message.usage.output_tokens) == (25 + 150, 40 + 12)


async def governed(make_gateway: MakeGateway, fake: FakeUpstream, meter: Meter) -> Any:
    settings = config(fake.url, vk("vk-a", VK_A, budgets=[budget(100.0)]))
    return await make_gateway(settings, [meter])


@BOTH
@pytest.mark.parametrize("outcome", ["repaired", "502"])
async def test_governance_bills_the_answer_and_its_repair(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, dialect: Dialect, outcome: str
) -> None:
    first_then(ANTHROPIC, "native", fake_upstream, GOOD if outcome == "repaired" else MISSING)
    meter = Meter()
    gw = await governed(make_gateway, fake_upstream, meter)
    if dialect == "anthropic":
        async with gw.anthropic(api_key=None, auth_token=VK_A) as client:
            asked = await _ask_with(client, dialect)
    else:
        async with gw.openai(api_key=VK_A) as openai_client:
            asked = await _ask_with(openai_client, dialect)
    assert asked == (200 if outcome == "repaired" else 502)
    usage = await meter.one()
    assert (usage.input_tokens, usage.output_tokens) == (250, 22)
    await settled(gw)
    assert used(gw, KEY_BUDGET) == pytest.approx(BOTH_COST)


async def _ask_with(client: Any, dialect: Dialect) -> int:
    try:
        if dialect == "anthropic":
            await client.messages.parse(model=ANTHROPIC.routed, max_tokens=100, messages=HI, output_format=City)
        else:
            await client.chat.completions.parse(model=ANTHROPIC.routed, messages=HI, response_format=City)
    except (anthropic.APIStatusError, openai.APIStatusError) as error:
        return error.status_code
    return 200
