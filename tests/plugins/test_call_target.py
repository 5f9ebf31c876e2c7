"""`ctx.call_target` (one more upstream call on the attempt's target, e.g. a repair) and the usage a call records:
the provider's own, taken before any plugin rewrites the answer, plus that of the extra calls, recorded (and
charged to governance budgets) even when the client gets an error."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest
from msgspec.structs import replace

from gateway import CallContext, ChatCall, ChatResult, Chunk, UpstreamError, hookimpl
from gateway.schemas import anthropic as a
from gateway.testing import (
    FakeUpstream,
    Reply,
    anthropic_body,
    anthropic_message,
    anthropic_sse,
    anthropic_usage,
    assert_anthropic_error,
    assert_openai_error,
    openai_body,
)
from tests.conftest import Gateway, MakeGateway
from tests.http.governance_helpers import CLAUDE, MESSAGES, UP_MESSAGES, VK_A, bearer, budget, config, settled, used, vk

CHAT = "/v1/chat/completions"
FIRST = anthropic_usage(100, 50)
SECOND = anthropic_usage(200, 70)
# At the test prices (1e-6 in, 2e-6 out): both calls.
BOTH_COST = (100 + 200) * 1e-6 + (50 + 70) * 2e-6
KEY_BUDGET = "budget:vk:vk-a:0"


class Meter:
    """Keeps what gw_record_usage is given."""

    def __init__(self) -> None:
        self.usages: list[a.Usage] = []
        self.seen = asyncio.Event()

    @hookimpl
    def gw_record_usage(self, usage: a.Usage) -> None:
        self.usages.append(usage)
        self.seen.set()

    async def one(self) -> a.Usage:
        await asyncio.wait_for(self.seen.wait(), 5)
        [usage] = self.usages
        return usage


class RepairThenFail:
    """Asks the target again once the answer is in, then gives up with a 502 (what a validator does when the
    repair is still invalid). Streams: at their end."""

    def __init__(self) -> None:
        self.repairs: list[str] = []

    async def _repair(self, call: ChatCall, ctx: CallContext) -> None:
        again = await ctx.call_target(call)
        self.repairs.append(again.message.content[0].text or "")
        raise UpstreamError("the answer is still not valid", status=502, kind="api_error")

    @hookimpl
    async def gw_transform_response(self, call: ChatCall, result: ChatResult, ctx: CallContext) -> ChatResult:
        await self._repair(call, ctx)
        return result

    @hookimpl
    async def gw_transform_chunk(self, call: ChatCall, chunk: Chunk, ctx: CallContext) -> Chunk:
        if any(isinstance(event, a.MessageStop) for event in chunk.events):
            await self._repair(call, ctx)
        return chunk


async def governed(make_gateway: MakeGateway, fake: FakeUpstream, plugins: list[object]) -> Gateway:
    settings = config(fake.url, vk("vk-a", VK_A, budgets=[budget(100.0)]))
    # One upstream call at a time: a repair within a stream must not wait for the stream's own slot.
    settings["providers"]["anthropic"]["concurrency_and_buffer_size"] = {
        "concurrency": 1,
        "queue_timeout_in_seconds": 2,
    }
    return await make_gateway(settings, plugins)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("dialect", ["anthropic", "openai"])
async def test_a_repair_then_a_502_bills_both_calls(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, dialect: str, stream: bool
) -> None:
    first = Reply.sse(anthropic_sse(["not ", "json"], usage=FIRST)) if stream else None
    first = first or Reply.json(anthropic_message("not json", usage=FIRST))
    fake_upstream.script(UP_MESSAGES, first, Reply.json(anthropic_message("still not json", usage=SECOND)))
    meter, repair = Meter(), RepairThenFail()
    gw = await governed(make_gateway, fake_upstream, [meter, repair])
    async with gw.http(None) as http:
        if dialect == "anthropic":
            body = anthropic_body(CLAUDE, max_tokens=100, stream=stream, x_unknown_field=1)
            answer = await http.post(MESSAGES, body, bearer(VK_A))
        else:
            answer = await http.post(CHAT, openai_body(CLAUDE, max_tokens=100, stream=stream), bearer(VK_A))
    if stream:  # the error ends the stream (its headers went out with the first bytes)
        assert answer.status == 200
        last = answer.events()[-1].json()
        assert "the answer is still not valid" in last["error"]["message"], answer
    elif dialect == "anthropic":
        assert_anthropic_error(answer, 502, "api_error", "the answer is still not valid")
    else:
        assert_openai_error(answer, 502, "server_error", "the answer is still not valid")
    assert repair.repairs == ["still not json"]
    usage = await meter.one()
    assert (usage.input_tokens, usage.output_tokens) == (300, 120)
    await settled(gw)
    assert used(gw, KEY_BUDGET) == pytest.approx(BOTH_COST)
    first_sent, second_sent = (r.json for r in fake_upstream.requests_to(UP_MESSAGES))
    assert second_sent.get("stream") in (None, False)  # a complete answer
    assert "x_unknown_field" not in second_sent  # sent from the canonical request, not the client's bytes
    assert second_sent["messages"] == first_sent["messages"]


class Repair:
    """Asks again once and answers with the second answer."""

    @hookimpl
    async def gw_transform_response(self, call: ChatCall, result: ChatResult, ctx: CallContext) -> ChatResult:
        ctx.set_header("x-test-before-repair", str(ctx.attempts))
        return await ctx.call_target(call)


async def test_a_repair_counts_in_the_attempts_and_its_answer_is_served(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(
        UP_MESSAGES,
        Reply.json(anthropic_message("first", usage=FIRST)),
        Reply.json(anthropic_message("second", usage=SECOND)),
    )
    meter = Meter()
    gw = await governed(make_gateway, fake_upstream, [meter, Repair()])
    async with gw.anthropic(api_key=VK_A) as client:
        raw = await client.messages.with_raw_response.create(
            model=CLAUDE, max_tokens=100, messages=[{"role": "user", "content": "hi"}]
        )
    message = await raw.parse()
    assert message.content[0].text == "second"  # type: ignore[union-attr]
    assert (raw.headers["x-test-before-repair"], raw.headers["x-bf-attempts"]) == ("1", "2")
    usage = await meter.one()
    assert (usage.input_tokens, usage.output_tokens) == (300, 120)
    # What the client is told is the plugin's business (here: the repair's own usage); the bill has both.
    assert (message.usage.input_tokens, message.usage.output_tokens) == (200, 70)
    await settled(gw)
    assert used(gw, KEY_BUDGET) == pytest.approx(BOTH_COST)


class Understate:
    """Rewrites the usage the client is shown to one token each way (which must not change what is billed)."""

    @hookimpl
    def gw_transform_response(self, result: ChatResult) -> ChatResult:
        usage = a.Usage(input_tokens=1, output_tokens=1)
        return replace(result, message=replace(result.message, usage=usage))

    @hookimpl
    def gw_transform_chunk(self, chunk: Chunk) -> Chunk:
        return Chunk(events=tuple(_understated(event) for event in chunk.events))


def _understated(event: a.StreamEvent) -> a.StreamEvent:
    if isinstance(event, a.MessageStart):
        return replace(event, message=replace(event.message, usage=a.Usage(input_tokens=1, output_tokens=1)))
    if isinstance(event, a.MessageDelta):
        return replace(event, usage=a.Usage(input_tokens=1, output_tokens=1))
    return event


@pytest.mark.parametrize("stream", [False, True])
async def test_the_recorded_usage_is_the_providers_not_a_rewritten_one(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, stream: bool
) -> None:
    reply = Reply.sse(anthropic_sse(usage=FIRST)) if stream else Reply.json(anthropic_message(usage=FIRST))
    fake_upstream.script(UP_MESSAGES, reply)
    meter = Meter()
    gw = await governed(make_gateway, fake_upstream, [meter, Understate()])
    async with gw.anthropic(api_key=VK_A) as client:
        kwargs: dict[str, Any] = {"model": CLAUDE, "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
        if stream:
            async with client.messages.stream(**kwargs) as events:
                shown = (await events.get_final_message()).usage
        else:
            shown = (await client.messages.create(**kwargs)).usage
    assert (shown.input_tokens, shown.output_tokens) == (1, 1)  # the plugin's rewrite reached the client
    usage = await meter.one()
    assert (usage.input_tokens, usage.output_tokens) == (100, 50)
    await settled(gw)
    assert used(gw, KEY_BUDGET) == pytest.approx(100 * 1e-6 + 50 * 2e-6)


async def test_call_target_needs_a_target(make_gateway: MakeGateway) -> None:
    """A plugin bug (a call with no target) is a clear error, not an upstream call."""
    failures: list[str] = []

    class NoTarget:
        @hookimpl
        async def gw_transform_response(self, call: ChatCall, result: ChatResult, ctx: CallContext) -> ChatResult:
            try:
                await ctx.call_target(replace(call, target=None))
            except ValueError as exc:
                failures.append(str(exc))
            return result

    gw = await make_gateway({"providers": {"mock": {}}}, [NoTarget()])
    async with gw.anthropic() as client:
        await client.messages.create(model="mock/m", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
    assert failures == ["ctx.call_target needs a call with a target (the attempt's call)"]


@dataclass
class Held:
    events: list[a.StreamEvent] = field(default_factory=list)


class Hold:
    """Holds a stream's events back until its end, asks the target again, sets a header and then sends them all
    (what a plugin that validates and repairs a stream before sending it does); `fail`: raises at the end
    instead, `swallow`: sends nothing at all."""

    def __init__(self, defer: bool, end: str = "send") -> None:
        self.defer, self.end = defer, end

    @hookimpl
    def gw_transform_request(self, call: ChatCall, ctx: CallContext) -> ChatCall:
        ctx.defer_stream_headers = self.defer
        return call

    @hookimpl
    async def gw_transform_chunk(self, call: ChatCall, chunk: Chunk, ctx: CallContext) -> Chunk:
        held = ctx.state(Held)
        held.events += chunk.events
        if self.end == "swallow" or not any(isinstance(e, a.MessageStop) for e in chunk.events):
            return Chunk(events=())
        await ctx.call_target(call)
        ctx.set_header("x-test-held", str(len(held.events)))
        if self.end == "fail":
            raise UpstreamError("held and failed", status=502, kind="api_error")
        return Chunk(events=tuple(held.events))


def streamed_text(dialect: str, answer: Any) -> str:
    if dialect == "anthropic":
        deltas = [e.json()["delta"] for e in answer.events() if e.event == "content_block_delta"]
        return "".join(d.get("text", "") for d in deltas)
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in answer.chunks() if c.get("choices"))


@pytest.mark.parametrize("defer", [True, False])
@pytest.mark.parametrize("dialect", ["anthropic", "openai"])
async def test_deferred_stream_headers_carry_what_was_set_while_held(
    make_gateway: MakeGateway, dialect: str, defer: bool
) -> None:
    gw = await make_gateway({"providers": {"mock": {"options": {"chunks": 3}}}}, [Hold(defer)])
    async with gw.http() as http:
        if dialect == "anthropic":
            answer = await http.post("/v1/messages", anthropic_body("mock/m", "hello", stream=True))
        else:
            answer = await http.post(CHAT, openai_body("mock/m", "hello", stream=True))
    assert answer.status == 200
    assert streamed_text(dialect, answer) == "Mock reply to: hello"
    if defer:  # the headers went out with the first bytes, after the hold: the repair counts, the header is there
        assert answer.headers["x-bf-attempts"] == "2"
        assert int(answer.headers["x-test-held"]) > 3
    else:  # sent at once: before either
        assert answer.headers["x-bf-attempts"] == "1"
        assert "x-test-held" not in answer.headers


@pytest.mark.parametrize("end", ["fail", "swallow"])
async def test_a_deferred_stream_that_fails_or_sends_nothing_still_answers(make_gateway: MakeGateway, end: str) -> None:
    gw = await make_gateway({"providers": {"mock": {}}}, [Hold(True, end)])
    async with gw.http() as http:
        answer = await http.post("/v1/messages", anthropic_body("mock/m", "hello", stream=True))
    if end == "fail":  # nothing was sent: the error's own status and body, as for an error before any stream
        assert_anthropic_error(answer, 502, "api_error", "held and failed")
    else:
        assert answer.status == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        assert answer.headers["x-bf-provider"] == "mock"
        assert answer.body == b""
