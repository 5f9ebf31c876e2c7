"""Agent mode's tool calls are tool calls like any other for the plugins that watch them: each is recorded
(gw_record_tool_call, via "agent"), and none is admitted on its own (gw_admit_tool_call): it belongs to the
inference call governance already admitted."""

from __future__ import annotations

import asyncio

from gateway import CallContext, hookimpl
from gateway.api import ToolCall, ToolOutcome
from gateway.testing import FakeUpstream, Reply, ToolUse, anthropic_message
from tests.conftest import MakeGateway
from tests.mcp.agent_helpers import agent_config
from tests.mcp.helpers import MESSAGES


class Watcher:
    def __init__(self) -> None:
        self.admitted: list[ToolCall] = []
        self.recorded = asyncio.Queue[tuple[ToolCall, ToolOutcome]]()

    @hookimpl
    def gw_admit_tool_call(self, tool: ToolCall, ctx: CallContext) -> None:
        self.admitted.append(tool)

    @hookimpl
    def gw_record_tool_call(self, tool: ToolCall, outcome: ToolOutcome) -> None:
        self.recorded.put_nowait((tool, outcome))


async def test_each_tool_the_loop_runs_is_recorded_and_not_admitted_again(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    watcher = Watcher()
    gateway = await make_gateway(agent_config(fake_upstream), [watcher])
    fake_upstream.script(
        MESSAGES,
        Reply.json(anthropic_message(None, tool_uses=[ToolUse("toolu_1", "local-add", {"a": 2, "b": 3})])),
        Reply.json(anthropic_message("5.")),
    )
    message = await gateway.anthropic().messages.create(
        model="anthropic/claude-x", max_tokens=64, messages=[{"role": "user", "content": "2+3?"}]
    )
    assert [getattr(block, "text", None) for block in message.content] == ["5."]
    tool, outcome = await asyncio.wait_for(watcher.recorded.get(), 5)
    assert tool == ToolCall(name="local-add", client="local", tool="add", via="agent")
    assert outcome.error is None and outcome.is_error is False
    assert watcher.admitted == []


class Timing:
    def __init__(self) -> None:
        self.seen = asyncio.Queue[tuple[float | None, float]]()

    @hookimpl
    def gw_record_usage(self, ctx: CallContext) -> None:
        self.seen.put_nowait((ctx.overhead_seconds, ctx.upstream_seconds))


async def test_the_time_tools_take_is_not_the_gateways_overhead(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    timing = Timing()
    gateway = await make_gateway(agent_config(fake_upstream), [timing])
    fake_upstream.script(
        MESSAGES,
        Reply.json(anthropic_message(None, tool_uses=[ToolUse("toolu_1", "local-slow", {"seconds": 0.6})])),
        Reply.json(anthropic_message("done.")),
    )
    started = asyncio.get_running_loop().time()
    await gateway.anthropic().messages.create(
        model="anthropic/claude-x", max_tokens=64, messages=[{"role": "user", "content": "wait"}]
    )
    assert asyncio.get_running_loop().time() - started >= 0.6  # the tool did take its time
    overhead, upstream = await asyncio.wait_for(timing.seen.get(), 5)
    assert overhead is not None and overhead < 0.3, (overhead, upstream)  # not the tool's 0.6 s
