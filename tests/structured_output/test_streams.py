"""Streams with structured output, on every provider kind in each of its modes and from both SDKs' stream helpers:
deltas pass as they come (tool mode: the tool's input fragments as text deltas), the whole text is checked before
the end, and an invalid answer ends the stream with the dialect's error event (no message_stop, no [DONE]). With
`buffer_streams: true` the gateway holds the stream, repairs it and streams one valid answer."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.testing import (
    FakeUpstream,
    MakeGateway,
    Reply,
    assert_anthropic_error,
    assert_openai_error,
    check_stream_grammar,
)
from tests.fakes.structured import (
    ALL_WIRES,
    ANTHROPIC,
    BEDROCK_LLAMA,
    GOOD,
    MISSING,
    NATIVE_WIRES,
    OPENAI,
    TOOL,
    VLLM,
    Wire,
)
from tests.structured_output.matrix import DIALECTS, HI, City, Dialect, ask

Mode = str
CASES: list[tuple[Wire, Mode]] = [
    *[(w, "native") for w in NATIVE_WIRES],
    *[(w, "tool") for w in (*ALL_WIRES, BEDROCK_LLAMA)],
    *[(w, "prompt") for w in (*ALL_WIRES, BEDROCK_LLAMA)],
]
MATRIX = pytest.mark.parametrize(("wire", "mode"), CASES, ids=[f"{w.name}-{m}" for w, m in CASES])
BOTH = pytest.mark.parametrize("dialect", DIALECTS)
GOOD_CITY = City.model_validate_json(GOOD)
PIECES = ('{"city": ', '"Paris", ', '"population": 2100000}')
ANTHROPIC_PATH = "/anthropic/v1/messages"
OPENAI_PATH = "/v1/chat/completions"


def streamed(wire: Wire, mode: Mode, answer: str) -> Reply:
    if mode == "tool":
        return wire.stream_tool(answer)
    if mode == "prompt":
        return wire.stream_text(("```json\n", answer[:9], answer[9:], "\n```"))
    return wire.stream_text((answer[:9], answer[9:]))


def complete(wire: Wire, mode: Mode, answer: str) -> Reply:
    return wire.tool(answer, 10, 5) if mode == "tool" else wire.text(answer, 10, 5)


def config(wire: Wire, mode: Mode, url: str, **extra: Any) -> dict[str, Any]:
    return wire.config(url, {"mode": mode, **extra})


def body(dialect: Dialect, model: str) -> tuple[str, dict[str, Any]]:
    schema = City.model_json_schema() | {"additionalProperties": False}
    if dialect == "anthropic":
        fmt = {"format": {"type": "json_schema", "schema": schema}}
        return ANTHROPIC_PATH, {"model": model, "max_tokens": 100, "messages": HI, "output_config": fmt, "stream": True}
    rf = {"type": "json_schema", "json_schema": {"name": "City", "schema": schema, "strict": True}}
    return OPENAI_PATH, {"model": model, "messages": HI, "response_format": rf, "stream": True}


def streamed_text(dialect: Dialect, answer: Any) -> list[str]:
    if dialect == "anthropic":
        return [e.json()["delta"]["text"] for e in answer.events() if e.event == "content_block_delta"]
    return [
        c["choices"][0]["delta"]["content"]
        for c in answer.chunks()
        if c.get("choices") and c["choices"][0]["delta"].get("content")
    ]


@MATRIX
@BOTH
async def test_a_valid_stream_passes(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, wire: Wire, mode: Mode, dialect: Dialect
) -> None:
    fake_upstream.script(wire.stream_path, streamed(wire, mode, GOOD))
    gw = await make_gateway(config(wire, mode, fake_upstream.url))
    asked = await ask(gw, wire.routed, dialect, stream=True)
    assert asked.status == 200 and asked.parsed == GOOD_CITY, asked
    assert asked.finish == ("end_turn" if dialect == "anthropic" else "stop")
    assert asked.tool_calls == 0
    assert asked.headers["x-bf-structured-output"] == mode
    assert asked.headers["x-bf-structured-output-attempts"] == "1"
    assert len(wire.sent(fake_upstream.requests)) == 1


@pytest.mark.parametrize("wire", [ANTHROPIC, VLLM], ids=["anthropic", "custom"])
@BOTH
async def test_tool_mode_streams_the_json_as_it_grows(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, wire: Wire, dialect: Dialect
) -> None:
    fake_upstream.script(wire.stream_path, wire.stream_tool(GOOD))
    gw = await make_gateway(config(wire, "tool", fake_upstream.url))
    path, sent = body(dialect, wire.routed)
    async with gw.http() as http:
        answer = await http.post(path, sent)
    assert answer.status == 200, answer
    texts = streamed_text(dialect, answer)
    assert len(texts) > 1 and City.model_validate_json("".join(texts)) == GOOD_CITY  # text deltas, not one block
    assert TOOL.encode() not in answer.body
    if dialect == "anthropic":
        blocks = check_stream_grammar(answer.events())
        assert [b["type"] for b in blocks] == ["text"]
        assert answer.events()[-2].json()["delta"]["stop_reason"] == "end_turn"
    else:
        assert answer.events()[-1].data == "[DONE]"
        finishes = [c["choices"][0]["finish_reason"] for c in answer.chunks() if c.get("choices")]
        assert finishes[-1] == "stop"


@MATRIX
@BOTH
async def test_an_invalid_stream_ends_with_an_error_event(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, wire: Wire, mode: Mode, dialect: Dialect
) -> None:
    fake_upstream.default(wire.stream_path, streamed(wire, mode, MISSING))
    gw = await make_gateway(config(wire, mode, fake_upstream.url))
    path, sent = body(dialect, wire.routed)
    async with gw.http() as http:
        answer = await http.post(path, sent)
    assert answer.status == 200, answer  # the headers went out with the first delta
    assert answer.headers["x-bf-structured-output"] == mode
    events = answer.events()
    last = events[-1].json()
    assert "population" in last["error"]["message"], answer
    if dialect == "anthropic":
        assert events[-1].event == "error" and last["error"]["type"] == "api_error"
        assert "message_stop" not in [e.event for e in events]
        assert "message_delta" not in [e.event for e in events]
    else:
        assert "[DONE]" not in [e.data for e in events]
        assert not any(c["choices"][0].get("finish_reason") for c in answer.chunks()[:-1] if c.get("choices"))
    assert len(wire.sent(fake_upstream.requests)) == 1  # no repair once bytes went out


@pytest.mark.parametrize("mode", ["native", "tool", "prompt"])
@pytest.mark.parametrize("dialect", ["anthropic", "openai"])
async def test_the_sdk_stream_helper_raises_the_gateways_error(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, mode: Mode, dialect: Dialect
) -> None:
    """`messages.stream(output_format=...)` / `chat.completions.stream(response_format=...)`: the client's own
    helper reports the gateway's error (with the path), not a parse failure of its own."""
    fake_upstream.default(ANTHROPIC.stream_path, streamed(ANTHROPIC, mode, MISSING))
    gw = await make_gateway(config(ANTHROPIC, mode, fake_upstream.url))
    asked = await ask(gw, ANTHROPIC.routed, dialect, stream=True)
    # The SDK raises the gateway's error event (an APIStatusError with the 200 of the stream in the Anthropic SDK,
    # an APIError in the OpenAI one), never a parse failure of its own.
    assert asked.status == 200 and "did not match the requested JSON schema" in asked.text, asked
    assert "population" in asked.text, asked


@MATRIX
@BOTH
async def test_a_buffered_stream_is_repaired_and_streamed_whole(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, wire: Wire, mode: Mode, dialect: Dialect
) -> None:
    fake_upstream.script(wire.stream_path, streamed(wire, mode, MISSING))
    fake_upstream.script(wire.path, complete(wire, mode, GOOD))  # the same queue where one path serves both
    gw = await make_gateway(config(wire, mode, fake_upstream.url, buffer_streams=True))
    path, sent = body(dialect, wire.routed)
    async with gw.http() as http:
        answer = await http.post(path, sent)
    assert answer.status == 200, answer
    assert answer.headers["x-bf-structured-output"] == mode
    assert answer.headers["x-bf-structured-output-attempts"] == "2"
    assert City.model_validate_json("".join(streamed_text(dialect, answer))) == GOOD_CITY
    assert b"error" not in answer.body
    if dialect == "anthropic":
        assert [b["type"] for b in check_stream_grammar(answer.events())] == ["text"]
    else:
        assert answer.events()[-1].data == "[DONE]"
    assert [r.path for r in fake_upstream.requests] == [wire.stream_path, wire.path]
    first, repair = wire.sent(fake_upstream.requests)
    assert first.get("stream", True) is True and repair.get("stream") in (None, False)  # the repair: one whole call


@pytest.mark.parametrize("wire", [ANTHROPIC, OPENAI], ids=["anthropic", "openai"])
@BOTH
async def test_a_buffered_stream_that_stays_invalid_is_an_error_naming_the_path(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, wire: Wire, dialect: Dialect
) -> None:
    """The SDK raises the gateway's error, with the path, after the one repair."""
    fake_upstream.script(wire.stream_path, streamed(wire, "native", MISSING))
    fake_upstream.default(wire.path, complete(wire, "native", MISSING))
    gw = await make_gateway(config(wire, "native", fake_upstream.url, buffer_streams=True))
    asked = await ask(gw, wire.routed, dialect, stream=True)
    assert asked.status in (200, 502), asked
    assert "population" in asked.text and "(2 answers)" in asked.text, asked
    assert len(wire.sent(fake_upstream.requests)) == 2


@BOTH
async def test_a_buffered_valid_stream_takes_one_call(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, dialect: Dialect
) -> None:
    fake_upstream.script(ANTHROPIC.stream_path, streamed(ANTHROPIC, "native", GOOD))
    gw = await make_gateway(config(ANTHROPIC, "native", fake_upstream.url, buffer_streams=True))
    asked = await ask(gw, ANTHROPIC.routed, dialect, stream=True)
    assert asked.status == 200 and asked.parsed == GOOD_CITY, asked
    assert asked.headers["x-bf-structured-output-attempts"] == "1"
    assert len(ANTHROPIC.sent(fake_upstream.requests)) == 1


@BOTH
async def test_a_buffered_stream_that_stays_invalid_is_a_502_status(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, dialect: Dialect
) -> None:
    fake_upstream.script(ANTHROPIC.stream_path, streamed(ANTHROPIC, "native", MISSING))
    fake_upstream.script(ANTHROPIC.path, complete(ANTHROPIC, "native", MISSING))
    gw = await make_gateway(config(ANTHROPIC, "native", fake_upstream.url, buffer_streams=True))
    path, sent = body(dialect, ANTHROPIC.routed)
    async with gw.http() as http:
        answer = await http.post(path, sent)
    if dialect == "anthropic":
        assert_anthropic_error(answer, 502, "api_error", "population")
    else:
        assert_openai_error(answer, 502, "server_error", "population")
