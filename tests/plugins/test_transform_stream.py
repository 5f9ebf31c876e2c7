"""`ctx.transform_stream`: one call's stream through a plugin's transform, set per attempt in
gw_transform_request, while the other calls' streams stay byte relays; a transform that raises ends the stream with
the dialect's error event."""

from __future__ import annotations

import asyncio

from gateway import CallContext, ChatCall, Chunk, GatewayError, UpstreamError, hookimpl
from gateway.schemas import anthropic as a
from gateway.testing import FakeUpstream, Reply, anthropic_body, anthropic_sse
from tests.conftest import MakeGateway, upstream_config

MESSAGES = "/anthropic/v1/messages"
UP = "/v1/messages"
# Spelled the way no encoder of ours would write it: a relayed stream keeps it, a re-encoded one does not.
ODD = b'event: ping\ndata: {"type":  "ping"}\n\n'


class Recorder:
    def __init__(self) -> None:
        self.errors: list[GatewayError] = []

    @hookimpl
    def gw_record_error(self, call: ChatCall, error: GatewayError) -> None:
        self.errors.append(error)


class Shout:
    """Upper-cases the text of calls whose request asks for it (a header), and fails those that ask to fail."""

    @hookimpl
    def gw_transform_request(self, call: ChatCall, ctx: CallContext) -> ChatCall:
        ctx.transform_stream("shout", self.shout if "x-shout" in ctx.headers else None)
        if "x-fail" in ctx.headers:
            ctx.transform_stream("fail", self.fail)
        if "x-end" in ctx.headers:
            ctx.transform_stream("end", self.end_with_error)
        return call

    async def shout(self, call: ChatCall, chunk: Chunk) -> Chunk:
        events = []
        for event in chunk.events:
            if isinstance(event, a.ContentBlockDelta) and isinstance(event.delta.text, str):
                event = a.ContentBlockDelta(
                    index=event.index, delta=a.Delta(type="text_delta", text=event.delta.text.upper())
                )
            events.append(event)
        return Chunk(events=tuple(events))

    async def fail(self, call: ChatCall, chunk: Chunk) -> Chunk:
        if any(isinstance(event, a.MessageStop) for event in chunk.events):
            raise UpstreamError("the answer is not acceptable", status=502, kind="api_error")
        return chunk

    async def end_with_error(self, call: ChatCall, chunk: Chunk) -> Chunk:
        """Ends the stream with an error event in place of message_stop (what structured output does)."""
        if any(isinstance(event, a.MessageStop) for event in chunk.events):
            error = a.StreamError(error=a.ErrorBody(type="api_error", message="ended by the plugin"))
            return Chunk(events=(*[e for e in chunk.events if not isinstance(e, a.MessageStop)], error))
        return chunk


def stream_reply() -> Reply:
    return Reply.sse(anthropic_sse(["hello ", "world"], extra_frames=[ODD]))


async def test_only_the_calls_that_set_it_are_transformed(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(UP, stream_reply(), stream_reply())
    gw = await make_gateway(upstream_config(fake_upstream.url), [Shout()])
    body = anthropic_body("claude-x", stream=True)
    async with gw.http() as http:
        shouted = await http.post(MESSAGES, body, {"x-shout": "1"})
        plain = await http.post(MESSAGES, body)
    texts = [e.json()["delta"]["text"] for e in shouted.events() if e.event == "content_block_delta"]
    assert texts == ["HELLO ", "WORLD"]
    assert ODD not in shouted.body  # decoded and encoded again
    assert ODD in plain.body  # relayed byte for byte: the other call paid nothing for the plugin


async def test_a_transform_that_raises_ends_the_stream_with_an_error_event(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(UP, stream_reply())
    gw = await make_gateway(upstream_config(fake_upstream.url), [Shout()])
    async with gw.http() as http:
        answer = await http.post(MESSAGES, anthropic_body("claude-x", stream=True), {"x-fail": "1"})
    last = answer.events()[-1]
    assert last.event == "error"
    assert last.json()["error"] == {"type": "api_error", "message": "the answer is not acceptable"}
    assert "message_stop" not in [e.event for e in answer.events()]


async def test_an_error_event_a_transform_sends_is_recorded(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(UP, stream_reply(), stream_reply())
    recorder = Recorder()
    gw = await make_gateway(upstream_config(fake_upstream.url), [Shout(), recorder])
    async with gw.http() as http:
        ended = await http.post(MESSAGES, anthropic_body("claude-x", stream=True), {"x-end": "1"})
        await http.post(MESSAGES, anthropic_body("claude-x", stream=True))
    assert ended.events()[-1].event == "error"
    for _ in range(100):  # gw_record_error runs off the request path
        if recorder.errors:
            break
        await asyncio.sleep(0.01)
    [error] = recorder.errors  # the plain stream after it recorded none
    assert (error.message, error.kind) == ("ended by the plugin", "api_error")
