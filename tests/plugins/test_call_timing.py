"""The timing facts a plugin reads about a call (`ctx.upstream_seconds`, `answered_at`, `first_token_at`), checked
by a plugin's gw_record_usage against a fake upstream that takes a known time."""

from __future__ import annotations

import asyncio

from anthropic.types import MessageParam

from gateway import hookimpl
from gateway.api import CallContext, ChatCall, anthropic
from gateway.testing import FakeUpstream, Reply, anthropic_message, anthropic_sse, upstream_config
from tests.conftest import MakeGateway

HI: list[MessageParam] = [{"role": "user", "content": "hi"}]
DELAY = 0.2


class Timings:
    def __init__(self) -> None:
        self.seen: list[tuple[float, float | None, float | None, float]] = []
        self.done = asyncio.Event()

    @hookimpl
    async def gw_record_usage(self, call: ChatCall, usage: anthropic.Usage, ctx: CallContext) -> None:
        self.seen.append((ctx.upstream_seconds, ctx.answered_at, ctx.first_token_at, ctx.started))
        self.done.set()


async def test_upstream_time_and_answer_times(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script("/v1/messages", Reply.json(anthropic_message("warm-up")))
    fake_upstream.script("/v1/messages", Reply.json(anthropic_message("slow"), delay=DELAY))
    fake_upstream.script("/v1/messages", Reply.sse(anthropic_sse(("a", "b")), delay=DELAY / 4))
    timings = Timings()
    gw = await make_gateway(upstream_config(fake_upstream.url), plugins=[timings])
    async with gw.anthropic() as client:
        for _ in range(2):  # the first call of a process loads what later ones reuse
            await client.messages.create(model="claude-x", max_tokens=8, messages=HI)
            await asyncio.wait_for(timings.done.wait(), 3)
            timings.done.clear()
        async with client.messages.stream(model="claude-x", max_tokens=8, messages=HI) as stream:
            await stream.get_final_message()
        await asyncio.wait_for(timings.done.wait(), 3)
    _, (upstream, answered, first, started), (s_upstream, s_answered, s_first, s_started) = timings.seen
    assert upstream >= DELAY and answered is not None and first is None
    # What is left once the upstream's time is taken out is the gateway's own: far below the upstream's delay.
    assert 0 <= answered - started - upstream < DELAY / 2
    assert s_answered is not None and s_first is not None
    assert s_first >= s_answered - 1e-6  # the first content comes once the stream opened, or with it
    assert 0 <= s_answered - s_started - s_upstream < DELAY / 2
    assert 0 < s_first - s_started < DELAY  # the stream's first frame, not its end (its frames come DELAY apart)
