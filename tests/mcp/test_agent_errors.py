"""Agent mode when something goes wrong after the first round: a model that refuses a later round (an error in
the client's dialect, or one terminal error frame once the stream has begun), a model whose call's arguments are
not JSON and a server that dies in the middle of a call (error results the model can recover from), a client
that leaves while a tool runs (no further model call), and a streamed loop's usage billed in full."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.testing import (
    FakeUpstream,
    Reply,
    ToolUse,
    anthropic_body,
    anthropic_error_frame,
    anthropic_message,
    anthropic_sse,
    assert_anthropic_error,
    assert_openai_error,
    openai_completion,
    openai_sse,
    openai_usage,
)
from tests.conftest import MakeGateway
from tests.http.governance_helpers import VK_A, budget, settled, used, vk
from tests.http.governance_helpers import config as governance_config
from tests.mcp.agent_helpers import ADD_QUESTION, CLAUDE, GPT, agent_config, anthropic_results, docs, local, openai_tail
from tests.mcp.helpers import CHAT, MESSAGES, http_server

ADD = ToolUse("toolu_1", "local-add", {"a": 2, "b": 3})
REFUSED = Reply.error(400, "invalid_request_error", "round two refused", dialect="anthropic")


async def test_a_later_round_refused_by_the_model_is_an_error_in_the_clients_dialect(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    gateway = await make_gateway(agent_config(fake_upstream))
    fake_upstream.script(MESSAGES, Reply.json(anthropic_message(None, tool_uses=[ADD])), REFUSED)
    async with gateway.http() as http:
        answer = await http.post(CHAT, {"model": CLAUDE, "messages": [{"role": "user", "content": "x"}]})
    assert_openai_error(answer, 400, "invalid_request_error", "round two refused")
    refused = Reply.error(400, "invalid_request_error", "round two refused", dialect="openai")
    fake_upstream.script(CHAT, Reply.json(openai_completion(None, tool_calls=[ADD])), refused)
    async with gateway.http() as http:
        answer = await http.post("/anthropic/v1/messages", anthropic_body(GPT, "x", 64))
    assert_anthropic_error(answer, 400, "invalid_request_error", "round two refused")


async def test_a_later_round_failing_mid_stream_ends_the_stream_with_one_error_frame(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    gateway = await make_gateway(agent_config(fake_upstream))
    broken = anthropic_sse(("Half",), extra_frames=[anthropic_error_frame("overloaded_error", "Overloaded")])
    for second in (REFUSED, Reply.sse(broken)):
        fake_upstream.script(MESSAGES, Reply.sse(anthropic_sse(("Adding.",), tool_uses=[ADD])), second)
        async with gateway.http() as http:
            answer = await http.post("/anthropic/v1/messages", anthropic_body(CLAUDE, "x", 64, stream=True))
        assert answer.status == 200, answer
        events = answer.events()
        names = [event.event for event in events if event.event != "ping"]
        assert names[0] == "message_start" and names.count("message_start") == 1, names
        assert names[-1] == "error" and names.count("error") == 1, names  # terminal: nothing after it
        assert "message_stop" not in names
        texts = [e.json()["delta"]["text"] for e in events if e.event == "content_block_delta"]
        assert texts[0] == "Adding."
        assert events[-1].json()["error"]["type"] in ("invalid_request_error", "overloaded_error")


async def test_arguments_that_are_not_json_are_an_error_result_the_model_recovers_from(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    first = openai_completion(None, tool_calls=[ADD])
    first["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] = '{"a": 2, "b":'
    fake_upstream.script(CHAT, Reply.json(first), Reply.json(openai_completion("Let me try again.")))
    gateway = await make_gateway(agent_config(fake_upstream))
    completion = await gateway.openai().chat.completions.create(
        model=GPT, messages=[{"role": "user", "content": "What is 2 + 3?"}]
    )
    assert completion.choices[0].message.content == "Let me try again."
    [result] = openai_tail(fake_upstream.requests_to(CHAT)[1], 1)
    assert (result["role"], result["tool_call_id"]) == ("tool", "toolu_1")
    assert result["content"].startswith("Error: "), result


async def test_a_server_that_dies_mid_call_is_an_error_result_not_a_hang(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCP_TEST_MORE_TOOLS", "1")
    with http_server() as dying:
        config = agent_config(fake_upstream, docs(dying.url, tools_to_auto_execute=["slow"]), tool_timeout=20)
        gateway = await make_gateway(config)
        fake_upstream.script(
            MESSAGES,
            Reply.json(anthropic_message(None, tool_uses=[ToolUse("toolu_s", "docs-slow", {"seconds": 30})])),
            Reply.json(anthropic_message("The server went away.")),
        )
        call = asyncio.create_task(
            gateway.anthropic().messages.create(model=CLAUDE, max_tokens=64, messages=ADD_QUESTION)
        )
        await asyncio.sleep(1)
        started = time.monotonic()
        assert dying.process is not None
        dying.process.kill()
        dying.stop()
        message = await asyncio.wait_for(call, 15)
    assert time.monotonic() - started < 10
    assert [getattr(block, "text", None) for block in message.content] == ["The server went away."]
    [(tool_id, is_error, _)] = anthropic_results(fake_upstream.requests_to(MESSAGES)[1])
    assert (tool_id, is_error) == ("toolu_s", True)


async def test_a_client_that_leaves_while_a_tool_runs_costs_no_further_model_call(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    slow = ToolUse("toolu_s", "local-slow", {"seconds": 2})
    fake_upstream.script(
        MESSAGES, Reply.sse(anthropic_sse(("One moment.",), tool_uses=[slow])), Reply.sse(anthropic_sse(("Done.",)))
    )
    gateway = await make_gateway(agent_config(fake_upstream))
    async with gateway.anthropic().messages.stream(model=CLAUDE, max_tokens=64, messages=ADD_QUESTION) as stream:
        async for text in stream.text_stream:
            assert text == "One moment."
            break  # and leave: the stream is closed on the way out
    await asyncio.sleep(3)  # the tool's 2 s, and then some
    assert len(fake_upstream.requests_to(MESSAGES)) == 1
    assert fake_upstream.pending(MESSAGES) == 1


async def test_a_streamed_loops_every_round_is_billed_to_the_virtual_key(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    config = governance_config(fake_upstream.url, vk("vk-a", VK_A, budgets=[budget(100.0)]))
    config["mcp"] = agent_config(fake_upstream, local())["mcp"]
    gateway = await make_gateway(config)
    fake_upstream.script(
        CHAT,
        Reply.sse(openai_sse((), tool_calls=[ADD], usage=openai_usage(1000, 100))),
        Reply.sse(openai_sse(("5.",), usage=openai_usage(2000, 200))),
    )
    stream = await gateway.openai(api_key=VK_A).chat.completions.create(
        model=GPT, messages=[{"role": "user", "content": "x"}], stream=True, stream_options={"include_usage": True}
    )
    usages = [chunk.usage async for chunk in stream if chunk.usage is not None]
    assert [(u.prompt_tokens, u.completion_tokens) for u in usages] == [(3000, 300)]
    await settled(gateway)
    assert used(gateway, "budget:vk:vk-a:0") == pytest.approx(3000 * 1e-6 + 300 * 2e-6)
