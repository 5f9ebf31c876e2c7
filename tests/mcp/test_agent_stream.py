"""Agent mode when streaming (which Bifrost refuses): the client gets one stream of one message, text of every
round as it comes, the gateway's tool rounds hidden (or, in the Anthropic dialect with the MCP beta header, shown
as `mcp_tool_use` / `mcp_tool_result` blocks), block indexes contiguous across rounds, one message_start and one
message_stop, usage summed in the final message_delta (OpenAI: one finish_reason, one usage chunk). Read with the
SDKs' stream helpers and, where the frames matter, with the kit's raw client."""

from __future__ import annotations

import json
import time
from typing import Any

from anthropic.types.beta import BetaMCPToolResultBlock, BetaMCPToolUseBlock, BetaMessageParam, BetaTextBlock

from gateway.testing import (
    FAKE_SIGNATURE,
    FakeUpstream,
    Reply,
    SseEvent,
    ToolUse,
    anthropic_body,
    anthropic_sse,
    anthropic_usage,
    check_stream_grammar,
    openai_sse,
    openai_usage,
)
from tests.conftest import Gateway, MakeGateway
from tests.fakes.gemini import (
    FAKE_THOUGHT_SIGNATURE,
    call_part,
    gemini_chunk,
    gemini_sse,
    gemini_usage,
    stream_path,
    text_part,
    text_stream,
)
from tests.mcp.agent_helpers import (
    ADD_QUESTION,
    ADD_QUESTION_CHAT,
    CLAUDE,
    EXECUTED_ADD,
    GEMINI,
    GPT,
    LOOKUP,
    LOOKUP_FUNCTION,
    MCP_BETA,
    agent_config,
    anthropic_results,
    anthropic_turns,
    beta_kinds,
    gemini_tail,
    openai_tail,
    summary_of,
    tool_uses,
)
from tests.mcp.helpers import CHAT, MESSAGES

ADD = ToolUse("toolu_1", "local-add", {"a": 2, "b": 3})
WEATHER_CALL = ToolUse("toolu_2", "local-get_weather", {"city": "Oslo"})
WEATHER = "sunny in Oslo, 21 degrees celsius"
BETA_QUESTION: list[BetaMessageParam] = [{"role": "user", "content": "What is 2 + 3?"}]


def three_anthropic_rounds() -> list[Reply]:
    """Two tool rounds (text and a call each), then the answer; usage with cache reads and writes."""
    return [
        Reply.sse(
            anthropic_sse(
                ("Let me ", "add."),
                tool_uses=[ADD],
                usage=anthropic_usage(100, 10, cache_creation_input_tokens=20, cache_read_input_tokens=50),
            )
        ),
        Reply.sse(
            anthropic_sse(
                ("Now the ", "weather."),
                tool_uses=[WEATHER_CALL],
                usage=anthropic_usage(200, 20, cache_read_input_tokens=60),
            )
        ),
        Reply.sse(anthropic_sse(("Done.",), usage=anthropic_usage(300, 30))),
    ]


async def raw_anthropic_stream(gateway: Gateway, headers: dict[str, str] | None = None) -> list[SseEvent]:
    async with gateway.http() as http:
        body = anthropic_body(CLAUDE, "What is 2 + 3?", 64, stream=True)
        answer = await http.post("/anthropic/v1/messages", body, headers)
    assert answer.status == 200, answer
    return answer.events()


def frames_of(events: list[SseEvent], name: str) -> list[dict[str, Any]]:
    return [event.json() for event in events if event.event == name]


async def test_an_anthropic_stream_of_three_rounds_is_one_message(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(MESSAGES, *three_anthropic_rounds())
    gateway = await make_gateway(agent_config(fake_upstream))
    async with gateway.anthropic().messages.stream(model=CLAUDE, max_tokens=64, messages=ADD_QUESTION) as stream:
        texts = [text async for text in stream.text_stream]
        message = await stream.get_final_message()
    assert "".join(texts) == "Let me add.Now the weather.Done."
    assert [(block.type, getattr(block, "text", None)) for block in message.content] == [
        ("text", "Let me add."),
        ("text", "Now the weather."),
        ("text", "Done."),
    ]
    assert (message.stop_reason, message.stop_sequence) == ("end_turn", None)
    usage = message.usage
    summed = (usage.input_tokens, usage.output_tokens, usage.cache_read_input_tokens, usage.cache_creation_input_tokens)
    assert summed == (600, 60, 110, 20)
    requests = fake_upstream.requests_to(MESSAGES)
    assert len(requests) == 3 and all(request.json["stream"] is True for request in requests)
    turns = anthropic_turns(requests[2])
    assert [role for role, _ in turns] == ["user", "assistant", "user", "assistant", "user"]
    # The streamed calls, their input reassembled from the fragments, as the model sent them.
    assert [(b["type"], b.get("text")) for b in turns[1][1]] == [("text", "Let me add."), ("tool_use", None)]
    assert tool_uses(turns[1][1]) == [("toolu_1", "local-add", {"a": 2, "b": 3})]
    assert tool_uses(turns[3][1]) == [("toolu_2", "local-get_weather", {"city": "Oslo"})]
    assert anthropic_results(requests[2]) == [("toolu_2", False, WEATHER)]


async def test_the_frames_are_one_messages_contiguous_blocks_with_the_summed_usage_at_the_end(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(MESSAGES, *three_anthropic_rounds())
    gateway = await make_gateway(agent_config(fake_upstream))
    events = await raw_anthropic_stream(gateway)
    blocks = check_stream_grammar(events)  # contiguous indexes, one block open at a time
    assert [block["type"] for block in blocks] == ["text", "text", "text"]
    assert len(frames_of(events, "message_start")) == 1
    assert len(frames_of(events, "message_stop")) == 1
    [delta] = frames_of(events, "message_delta")
    assert delta["delta"]["stop_reason"] == "end_turn"
    assert (delta["usage"]["input_tokens"], delta["usage"]["output_tokens"]) == (600, 60)
    assert delta["usage"]["cache_read_input_tokens"] == 110
    assert delta["usage"]["cache_creation_input_tokens"] == 20


async def test_with_the_mcp_beta_the_stream_shows_each_executed_call(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(MESSAGES, *three_anthropic_rounds()[1:])  # one tool round: the weather
    gateway = await make_gateway(agent_config(fake_upstream))
    async with gateway.anthropic().beta.messages.stream(
        model=CLAUDE, max_tokens=64, messages=BETA_QUESTION, betas=[MCP_BETA]
    ) as stream:
        message = await stream.get_final_message()
    types = beta_kinds(message.content)
    assert types == [BetaTextBlock, BetaMCPToolUseBlock, BetaMCPToolResultBlock, BetaTextBlock]
    use, result = message.content[1], message.content[2]
    assert isinstance(use, BetaMCPToolUseBlock) and isinstance(result, BetaMCPToolResultBlock)
    assert (use.name, use.server_name, use.input) == ("get_weather", "local", {"city": "Oslo"})
    assert (result.tool_use_id, result.is_error) == (use.id, False)
    assert isinstance(result.content, list) and [part.text for part in result.content] == [WEATHER]
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (500, 50)


async def test_with_the_mcp_beta_the_frames_stay_one_contiguous_message(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(MESSAGES, *three_anthropic_rounds())
    gateway = await make_gateway(agent_config(fake_upstream))
    events = await raw_anthropic_stream(gateway, {"anthropic-beta": f"{MCP_BETA},other-beta-2025-01-01"})
    blocks = check_stream_grammar(events)
    kinds = ["text", "mcp_tool_use", "mcp_tool_result"]
    assert [block["type"] for block in blocks] == [*kinds, *kinds, "text"]
    assert len(frames_of(events, "message_start")) == len(frames_of(events, "message_stop")) == 1


async def test_an_openai_stream_of_three_rounds_has_one_finish_and_one_usage_chunk(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    weather = ToolUse("call_2", "local-get_weather", {"city": "Oslo"})
    fake_upstream.script(
        CHAT,
        Reply.sse(openai_sse(("Adding. ",), tool_calls=[ADD], usage=openai_usage(30, 12, cached_tokens=10), id="r1")),
        Reply.sse(openai_sse(("Looking. ",), tool_calls=[weather], usage=openai_usage(40, 6), id="r2")),
        Reply.sse(openai_sse(("Sum 5, ", "sunny."), usage=openai_usage(50, 8, cached_tokens=20), id="r3")),
    )
    gateway = await make_gateway(agent_config(fake_upstream))
    stream = await gateway.openai().chat.completions.create(
        model=GPT, messages=ADD_QUESTION_CHAT, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    deltas = [choice.delta for chunk in chunks for choice in chunk.choices]
    assert "".join(delta.content or "" for delta in deltas) == "Adding. Looking. Sum 5, sunny."
    assert not any(delta.tool_calls for delta in deltas)
    finishes = [choice.finish_reason for chunk in chunks for choice in chunk.choices if choice.finish_reason]
    assert finishes == ["stop"]
    [usage] = [chunk.usage for chunk in chunks if chunk.usage is not None]
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (120, 26, 146)
    assert usage.prompt_tokens_details is not None and usage.prompt_tokens_details.cached_tokens == 30
    assert len({chunk.id for chunk in chunks}) == 1  # one completion, whatever the rounds were called
    requests = fake_upstream.requests_to(CHAT)
    assert len(requests) == 3 and all(request.json["stream"] is True for request in requests)
    assistant, result = openai_tail(requests[1], 2)
    assert (assistant["role"], assistant["content"]) == ("assistant", "Adding. ")
    calls = [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in assistant["tool_calls"]]
    assert calls == [("toolu_1", "local-add", {"a": 2, "b": 3})]
    assert result == {"role": "tool", "tool_call_id": "toolu_1", "content": "5"}


async def test_the_openai_stream_helper_reads_the_depth_limited_answer_of_an_anthropic_model(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    """max_agent_depth 2 and a model that always calls a tool: three model calls, the third one's call is the
    client's, as an ordinary tool call."""
    rounds = [
        anthropic_sse((f"R{n}. ",), tool_uses=[ToolUse(f"toolu_{n}", "local-add", {"a": n, "b": 1})]) for n in (1, 2, 3)
    ]
    fake_upstream.script(MESSAGES, *[Reply.sse(frames) for frames in rounds])
    gateway = await make_gateway(agent_config(fake_upstream, depth=2))
    async with gateway.openai().chat.completions.stream(
        model=CLAUDE, messages=ADD_QUESTION_CHAT, stream_options={"include_usage": True}
    ) as stream:
        completion = await stream.get_final_completion()
    assert len(fake_upstream.requests_to(MESSAGES)) == 3
    choice = completion.choices[0]
    assert choice.message.content == "R1. R2. R3. "
    calls = [(c.id, c.function.name, c.function.arguments) for c in choice.message.tool_calls or []]
    assert [(tool_id, name) for tool_id, name, _ in calls] == [("toolu_3", "local-add")]
    assert choice.finish_reason == "tool_calls"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (75, 120)  # 3 x (25, 40)


async def test_a_gemini_stream_with_a_tool_round(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    call = call_part("local-get_weather", {"city": "Oslo"}, signature=FAKE_THOUGHT_SIGNATURE)
    first = [gemini_chunk([text_part("Checking.")]), gemini_chunk([call], finish="STOP", usage=gemini_usage(100, 10))]
    fake_upstream.script(
        stream_path(),
        Reply.sse(gemini_sse(first)),
        Reply.sse(text_stream(("Sunny ", "in Oslo."), usage=gemini_usage(120, 15))),
    )
    gateway = await make_gateway(agent_config(fake_upstream))
    async with gateway.anthropic().messages.stream(
        model=GEMINI, max_tokens=64, messages=[{"role": "user", "content": "Weather in Oslo?"}]
    ) as stream:
        message = await stream.get_final_message()
    assert {block.type for block in message.content} == {"text", "thinking"}  # the signature's thinking block
    assert [block.text for block in message.content if block.type == "text"] == ["Checking.", "Sunny in Oslo."]
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (220, 25)
    requests = fake_upstream.requests_to(stream_path())
    assert len(requests) == 2
    model_turn, result_turn = gemini_tail(requests[1], 2)
    assert model_turn["role"] == "model"
    assert call in model_turn["parts"]  # with its signature
    response = {"name": "local-get_weather", "response": {"output": WEATHER}}
    assert result_turn == {"role": "user", "parts": [{"functionResponse": response}]}


async def test_a_tool_over_its_timeout_is_an_error_result_and_the_stream_goes_on(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    """The timeout of tool_manager_config (1 s) for a client that sets none."""
    slow = ToolUse("toolu_s", "local-slow", {"seconds": 30})
    fake_upstream.script(
        MESSAGES, Reply.sse(anthropic_sse((), tool_uses=[slow])), Reply.sse(anthropic_sse(("Too slow.",)))
    )
    gateway = await make_gateway(agent_config(fake_upstream, tool_timeout=1))
    started = time.monotonic()
    async with gateway.anthropic().messages.stream(model=CLAUDE, max_tokens=64, messages=ADD_QUESTION) as stream:
        assert await stream.get_final_text() == "Too slow."
    assert time.monotonic() - started < 10
    [(tool_id, is_error, text)] = anthropic_results(fake_upstream.requests_to(MESSAGES)[1])
    assert (tool_id, is_error) == ("toolu_s", True) and "within 1s" in text


async def test_the_first_rounds_text_reaches_the_client_before_its_tool_is_done(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    slow = ToolUse("toolu_s", "local-slow", {"seconds": 2})
    fake_upstream.script(
        MESSAGES,
        Reply.sse(anthropic_sse(("One moment.",), tool_uses=[slow])),
        Reply.sse(anthropic_sse(("Done.",))),
    )
    gateway = await make_gateway(agent_config(fake_upstream))
    started = time.monotonic()
    arrivals: list[tuple[str, float]] = []
    async with gateway.anthropic().messages.stream(model=CLAUDE, max_tokens=64, messages=ADD_QUESTION) as stream:
        async for text in stream.text_stream:
            arrivals.append((text, time.monotonic() - started))
    assert "".join(text for text, _ in arrivals) == "One moment.Done."
    first_at, last_at = arrivals[0][1], arrivals[-1][1]
    assert first_at < 1.5 < 2 <= last_at, arrivals


async def test_a_mixed_answer_streams_the_summary_before_the_pending_call(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    own = ToolUse("toolu_3", "lookup", {"q": "x"})
    fake_upstream.script(MESSAGES, Reply.sse(anthropic_sse(("Let me see.",), tool_uses=[ADD, own])))
    gateway = await make_gateway(agent_config(fake_upstream))
    async with gateway.anthropic().messages.stream(
        model=CLAUDE, max_tokens=64, messages=ADD_QUESTION, tools=[LOOKUP]
    ) as stream:
        message = await stream.get_final_message()
    assert len(fake_upstream.requests_to(MESSAGES)) == 1
    assert [block.type for block in message.content] == ["text", "text", "tool_use"]
    summary = message.content[1]
    assert summary.type == "text" and summary_of(summary.text) == [EXECUTED_ADD]
    assert [(b.id, b.name, b.input) for b in message.content if b.type == "tool_use"] == [
        ("toolu_3", "lookup", {"q": "x"})
    ]
    assert message.stop_reason == "tool_use"


async def test_streamed_thinking_of_every_round_reaches_the_client_and_goes_back_signed(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(
        MESSAGES,
        Reply.sse(anthropic_sse((), thinking=("I should ", "add."), tool_uses=[ADD])),
        Reply.sse(anthropic_sse(("5.",), thinking="It is 5.")),
    )
    gateway = await make_gateway(agent_config(fake_upstream))
    async with gateway.anthropic().messages.stream(model=CLAUDE, max_tokens=64, messages=ADD_QUESTION) as stream:
        message = await stream.get_final_message()
    shown = [(b.type, b.thinking if b.type == "thinking" else getattr(b, "text", None)) for b in message.content]
    assert shown == [("thinking", "I should add."), ("thinking", "It is 5."), ("text", "5.")]
    _, assistant = anthropic_turns(fake_upstream.requests_to(MESSAGES)[1])[1]
    assert assistant[0] == {"type": "thinking", "thinking": "I should add.", "signature": FAKE_SIGNATURE}
    assert tool_uses(assistant) == [("toolu_1", "local-add", {"a": 2, "b": 3})]


async def test_an_openai_stream_of_a_mixed_answer_has_the_summary_then_the_pending_call(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    own = ToolUse("call_3", "lookup", {"q": "x"})
    fake_upstream.script(CHAT, Reply.sse(openai_sse((), tool_calls=[ADD, own])))
    gateway = await make_gateway(agent_config(fake_upstream))
    async with gateway.openai().chat.completions.stream(
        model=GPT, messages=ADD_QUESTION_CHAT, tools=[LOOKUP_FUNCTION]
    ) as stream:
        completion = await stream.get_final_completion()
    assert len(fake_upstream.requests_to(CHAT)) == 1
    choice = completion.choices[0]
    assert choice.message.content is not None and summary_of(choice.message.content) == [EXECUTED_ADD]
    calls = [(c.id, c.function.name, json.loads(c.function.arguments)) for c in choice.message.tool_calls or []]
    assert calls == [("call_3", "lookup", {"q": "x"})]
    assert choice.finish_reason == "tool_calls"
