"""Auxiliary Anthropic endpoints and the mock provider: count_tokens, models list/retrieve, `mock/...` models.

api-spec section 8 cases 30 and 31, and the mock provider's behaviour through the Anthropic SDK.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import anthropic
import pytest
from anthropic.types import MessageParam, ToolResultBlockParam

from gateway.testing import FakeUpstream, Reply, check_stream_grammar, post_once
from tests.conftest import ANTHROPIC_KEY, CLIENT_KEY, OPENAI_KEY, Gateway, MakeGateway, upstream_config
from tests.http.anthropic_helpers import COUNT, GPT, GW_MESSAGES, HI, MESSAGES, TIME_TOOL, WEATHER_TOOL, sent

CLAUDE_MODELS = [f"claude-test-{i:02d}" for i in range(25)]
GPT_MODELS = ["gpt-x", "gpt-y"]
MOCK = "mock/anything"


def models_config(url: str) -> dict[str, Any]:
    """Keys that name their models, so the listing has more than one default page (20) of entries."""
    config = upstream_config(url)
    config["providers"]["anthropic"]["keys"] = [{"name": "a", "value": ANTHROPIC_KEY, "models": CLAUDE_MODELS}]
    config["providers"]["openai"]["keys"] = [{"name": "o", "value": OPENAI_KEY, "models": GPT_MODELS}]
    return config


EXPECTED_IDS = {*CLAUDE_MODELS, *(f"openai/{m}" for m in GPT_MODELS)}  # plus the mock provider's models


# --- count_tokens --------------------------------------------------------------------------------------------


async def test_count_tokens_anthropic_forwarded(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(COUNT, Reply.json({"input_tokens": 123}))
    async with gateway.anthropic() as client:
        result = await client.messages.count_tokens(
            model="claude-x", system="Be brief.", messages=HI, tools=[WEATHER_TOOL]
        )
    assert result.input_tokens == 123
    [request] = fake_upstream.requests_to(COUNT)
    assert request.json == {"model": "claude-x", "system": "Be brief.", "messages": HI, "tools": [WEATHER_TOOL]}
    assert request.headers["x-api-key"] == ANTHROPIC_KEY
    assert request.headers["anthropic-version"]
    assert CLIENT_KEY not in str(list(request.headers.items()))
    assert fake_upstream.requests_to(MESSAGES) == []


async def test_count_tokens_anthropic_prefixed_model(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(COUNT, Reply.json({"input_tokens": 9}))
    async with gateway.anthropic() as client:
        result = await client.messages.count_tokens(model="anthropic/claude-x", messages=HI)
    assert result.input_tokens == 9
    assert sent(fake_upstream, COUNT)["model"] == "claude-x"


async def test_count_tokens_anthropic_upstream_error(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(COUNT, Reply.error(404, "not_found_error", "model: claude-nope", dialect="anthropic"))
    async with gateway.anthropic() as client:
        with pytest.raises(anthropic.NotFoundError) as info:
            await client.messages.count_tokens(model="claude-nope", messages=HI)
    assert info.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]


@pytest.mark.parametrize("model", [GPT, MOCK])
async def test_count_tokens_local_estimate(gateway: Gateway, fake_upstream: FakeUpstream, model: str) -> None:
    long_text = "The quick brown fox jumps over the lazy dog. " * 40
    async with gateway.anthropic() as client:
        short = await client.messages.count_tokens(model=model, messages=HI)
        long = await client.messages.count_tokens(
            model=model, system="Be brief.", messages=[{"role": "user", "content": long_text}]
        )
    assert type(short.input_tokens) is int and short.input_tokens > 0
    assert long.input_tokens > short.input_tokens + 100  # an estimate that follows the input, not a constant
    assert fake_upstream.requests == []  # Chat Completions has no counting endpoint; mock has no upstream


async def test_count_tokens_raw_body_without_max_tokens(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    reply = await post_once(gateway.url + "/anthropic/v1/messages/count_tokens", {"model": GPT, "messages": HI})
    assert reply.status == 200, reply.body
    body = reply.json()
    assert list(body) == ["input_tokens"]
    assert body["input_tokens"] > 0


# --- models ----------------------------------------------------------------------------------------------------


async def test_models_list_paginates_all_pages(fake_upstream: FakeUpstream, make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(models_config(fake_upstream.url))
    async with gateway.anthropic() as client:
        ids = [model.id async for model in client.models.list(limit=10)]
    assert len(ids) == len(set(ids)), "a page repeated entries"
    assert EXPECTED_IDS <= set(ids)
    assert any(i.startswith("mock/") for i in ids)
    assert len(ids) == len(EXPECTED_IDS) + 2  # the mock provider lists mock-claude and mock-gpt by default
    assert fake_upstream.requests == []  # the listing comes from config, not from an upstream


async def test_models_list_page_fields(fake_upstream: FakeUpstream, make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(models_config(fake_upstream.url))
    async with gateway.anthropic() as client:
        first = await client.models.list()  # the default page size is 20
        assert len(first.data) == 20
        assert first.has_more is True
        assert first.first_id == first.data[0].id
        assert first.last_id == first.data[-1].id
        assert first.has_next_page()
        second = await first.get_next_page()
        assert second.has_more is False
        assert not second.has_next_page()
        assert second.data and second.first_id == second.data[0].id
        assert {m.id for m in first.data}.isdisjoint(m.id for m in second.data)
    for model in [*first.data, *second.data]:
        assert model.type == "model"
        assert model.display_name
        assert model.created_at.year >= 2000


async def test_models_list_after_and_before_id_raw(fake_upstream: FakeUpstream, make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(models_config(fake_upstream.url))
    async with gateway.http() as http:  # x-api-key and anthropic-version
        page1 = (await http.get("/anthropic/v1/models?" + urlencode({"limit": "5"}))).json()
        params = {"limit": "5", "after_id": page1["last_id"]}
        page2 = (await http.get("/anthropic/v1/models?" + urlencode(params))).json()
        params = {"limit": "5", "before_id": page2["first_id"]}
        back = (await http.get("/anthropic/v1/models?" + urlencode(params))).json()
    assert len(page1["data"]) == len(page2["data"]) == 5
    assert page1["has_more"] is True
    assert [m["id"] for m in back["data"]] == [m["id"] for m in page1["data"]]


async def test_models_retrieve(fake_upstream: FakeUpstream, make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(models_config(fake_upstream.url))
    async with gateway.anthropic() as client:
        model = await client.models.retrieve("claude-test-03")
    assert model.id == "claude-test-03"
    assert model.type == "model"
    assert model.display_name


async def test_models_retrieve_prefixed_id(fake_upstream: FakeUpstream, make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(models_config(fake_upstream.url))
    async with gateway.anthropic() as client:
        model = await client.models.retrieve("openai/gpt-y")
    assert model.id == "openai/gpt-y"


async def test_models_list_from_root_base_url_is_anthropic_shape(
    fake_upstream: FakeUpstream, make_gateway: MakeGateway
) -> None:
    # Pointed at the gateway root, the SDK calls GET /v1/models; anthropic-version tells it from an OpenAI client.
    gateway = await make_gateway(models_config(fake_upstream.url))
    client = anthropic.AsyncAnthropic(
        base_url=gateway.url, api_key=CLIENT_KEY, max_retries=0, _strict_response_validation=True
    )
    async with client:
        ids = [model.id async for model in client.models.list()]
    assert EXPECTED_IDS <= {i.removeprefix("anthropic/") for i in ids}


# --- mock provider ---------------------------------------------------------------------------------------------


async def test_mock_create_text(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    async with gateway.anthropic() as client:
        message = await client.messages.create(
            model=MOCK, max_tokens=64, messages=[{"role": "user", "content": "ping the mock"}]
        )
    assert message.model == MOCK
    assert [b.type for b in message.content] == ["text"]
    assert "ping the mock" in message.content[0].text  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    assert fake_upstream.requests == []


async def test_mock_stream_matches_create(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    messages: list[MessageParam] = [{"role": "user", "content": "stream please"}]
    async with gateway.anthropic() as client:
        created = await client.messages.create(model=MOCK, max_tokens=64, messages=messages)
        async with client.messages.stream(model=MOCK, max_tokens=64, messages=messages) as stream:
            pieces = [t async for t in stream.text_stream]
            final = await stream.get_final_message()
    assert len(pieces) > 1
    assert "".join(pieces) == created.content[0].text  # type: ignore[union-attr]
    assert final.content[0].text == created.content[0].text  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == created.usage.output_tokens


async def test_mock_stream_raw_grammar(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    reply = await post_once(
        gateway.url + GW_MESSAGES, {"model": MOCK, "max_tokens": 64, "messages": HI, "stream": True}
    )
    assert reply.status == 200, reply.body
    assert reply.headers["content-type"].startswith("text/event-stream")
    blocks = check_stream_grammar(reply.events())
    assert [b["type"] for b in blocks] == ["text"]


async def test_mock_tool_use_then_text_after_tool_result(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    question: MessageParam = {"role": "user", "content": "use get_weather please"}
    async with gateway.anthropic() as client:
        first = await client.messages.create(
            model=MOCK, max_tokens=64, messages=[question], tools=[WEATHER_TOOL, TIME_TOOL]
        )
        assert first.stop_reason == "tool_use"
        [tool_use] = first.content
        assert tool_use.type == "tool_use"
        assert tool_use.name == "get_weather"
        assert tool_use.input == {"city": "example city"}  # the schema's required field, filled
        result: ToolResultBlockParam = {"type": "tool_result", "tool_use_id": tool_use.id, "content": "sunny"}
        history: list[MessageParam] = [
            question,
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": [result]},
        ]
        second = await client.messages.create(model=MOCK, max_tokens=64, messages=history, tools=[WEATHER_TOOL])
    assert second.stop_reason == "end_turn"
    assert [b.type for b in second.content] == ["text"]


async def test_mock_tool_choice_named_tool(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    async with gateway.anthropic() as client:
        message = await client.messages.create(
            model=MOCK,
            max_tokens=64,
            messages=HI,
            tools=[WEATHER_TOOL, TIME_TOOL],
            tool_choice={"type": "tool", "name": "get_time"},
        )
    assert [(b.type, b.name) for b in message.content] == [("tool_use", "get_time")]  # type: ignore[union-attr]


async def test_mock_stream_tool_use(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    async with gateway.anthropic() as client:
        ask: list[MessageParam] = [{"role": "user", "content": "Call get_weather"}]
        async with client.messages.stream(model=MOCK, max_tokens=64, messages=ask, tools=[WEATHER_TOOL]) as stream:
            final = await stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert [b.type for b in final.content] == ["tool_use"]
    assert final.content[0].input == {"city": "example city"}  # type: ignore[union-attr]


async def test_mock_answers_in_text_when_no_tool_is_named(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    async with gateway.anthropic() as client:
        message = await client.messages.create(model=MOCK, max_tokens=64, messages=HI, tools=[WEATHER_TOOL])
    assert message.stop_reason == "end_turn"
    assert [b.type for b in message.content] == ["text"]
