"""OpenAI's `response_format: {"type": "json_object"}`: any JSON will do, so the answer is checked for parseable
JSON only, in every mode (native on Anthropic and OpenAI, tool and prompt on a custom server), repaired once, a
502 when it stays prose, and an error event ending a stream."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from gateway.testing import FakeUpstream, MakeGateway
from tests.fakes.structured import ANTHROPIC, OPENAI, PROSE, VLLM, Wire
from tests.structured_output.matrix import HI

JSON_OBJECT: Any = {"type": "json_object"}
ANSWER = '{"anything": ["goes", 1, null]}'
CASES: list[tuple[Wire, str]] = [(ANTHROPIC, "native"), (OPENAI, "native"), (VLLM, "tool"), (VLLM, "prompt")]
MODES = pytest.mark.parametrize(("wire", "mode"), CASES, ids=[f"{w.name}-{m}" for w, m in CASES])


def answer(wire: Wire, mode: str, text: str) -> Any:
    return wire.tool(text, 10, 5) if mode == "tool" else wire.text(text, 10, 5)


@MODES
async def test_any_json_answers_json_object(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, wire: Wire, mode: str
) -> None:
    fake_upstream.script(wire.path, answer(wire, mode, ANSWER))
    gw = await make_gateway(wire.config(fake_upstream.url, {"mode": mode}))
    async with gw.openai() as client:
        raw = await client.chat.completions.with_raw_response.create(
            model=wire.routed, messages=HI, response_format=JSON_OBJECT
        )
    completion = raw.parse()
    assert json.loads(completion.choices[0].message.content or "") == json.loads(ANSWER)
    assert completion.choices[0].finish_reason == "stop" and not completion.choices[0].message.tool_calls
    assert (raw.headers["x-bf-structured-output"], raw.headers["x-bf-structured-output-attempts"]) == (mode, "1")
    [sent] = wire.sent(fake_upstream.requests)
    if mode == "tool":
        assert wire.forced_tool(sent) == "bf_structured_output"
    if mode == "prompt":
        assert "JSON" in wire.system(sent) and wire.forced_tool(sent) is None


@MODES
async def test_prose_for_json_object_is_repaired_then_a_502(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, wire: Wire, mode: str
) -> None:
    fake_upstream.default(wire.path, wire.text(PROSE, 10, 5))
    gw = await make_gateway(wire.config(fake_upstream.url, {"mode": mode}))
    async with gw.openai() as client:
        with pytest.raises(openai.InternalServerError) as raised:
            await client.chat.completions.create(model=wire.routed, messages=HI, response_format=JSON_OBJECT)
    assert raised.value.status_code == 502
    assert "JSON" in str(raised.value) and "(2 answers)" in str(raised.value)
    assert len(wire.sent(fake_upstream.requests)) == 2


@MODES
async def test_prose_then_json_is_repaired(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, wire: Wire, mode: str
) -> None:
    fake_upstream.script(wire.path, wire.text(PROSE, 10, 5), answer(wire, mode, ANSWER))
    gw = await make_gateway(wire.config(fake_upstream.url, {"mode": mode}))
    async with gw.openai() as client:
        raw = await client.chat.completions.with_raw_response.create(
            model=wire.routed, messages=HI, response_format=JSON_OBJECT
        )
    assert json.loads(raw.parse().choices[0].message.content or "") == json.loads(ANSWER)
    assert raw.headers["x-bf-structured-output-attempts"] == "2"


@pytest.mark.parametrize("wire", [ANTHROPIC, OPENAI], ids=["anthropic", "openai"])
async def test_a_streamed_prose_answer_ends_with_an_error(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, wire: Wire
) -> None:
    fake_upstream.script(wire.stream_path, wire.stream_text(("Paris is ", "lovely.")))
    gw = await make_gateway(wire.config(fake_upstream.url, {"mode": "native"}))
    pieces: list[str] = []
    async with gw.openai() as client:
        with pytest.raises(openai.APIError) as raised:
            stream = await client.chat.completions.create(
                model=wire.routed, messages=HI, response_format=JSON_OBJECT, stream=True
            )
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    pieces.append(chunk.choices[0].delta.content)
    assert "".join(pieces) == "Paris is lovely."  # passed as it came
    assert "JSON" in str(raised.value)
