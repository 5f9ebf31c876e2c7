"""The stage table and a typed facade over it: core calls `pipeline.route(call, ctx)`, never `pm.hook.x(**kw)`."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Literal

import pluggy
from msgspec.structs import replace

from ..call import ChatCall, ChatResult, Chunk, Principal, RoutePlan, ToolCall, ToolOutcome
from ..context import trail
from ..errors import GatewayError
from ..schemas.anthropic import Tool, Usage
from .runner import Impl, build_table, run_collect, run_first, run_observe, run_pipe

if TYPE_CHECKING:
    from aiohttp import web

    from ..context import CallContext

Mode = Literal["first", "collect", "pipe", "observe"]
log = logging.getLogger("gateway.pipeline")
Observation = tuple[tuple[Impl, ...], dict[str, Any]]  # the observers of a stage and their arguments

# Stage order lives here and only here.
STAGES: tuple[tuple[str, Mode], ...] = (
    ("gw_authenticate", "first"),
    ("gw_authorize", "collect"),
    ("gw_cache_lookup", "first"),
    ("gw_admit_cached", "collect"),
    ("gw_route", "first"),
    ("gw_prepare_tools", "collect"),
    ("gw_transform_request", "pipe"),
    ("gw_admit_attempt", "collect"),
    ("gw_transform_response", "pipe"),
    ("gw_transform_chunk", "pipe"),
    ("gw_record_usage", "observe"),
    ("gw_record_error", "observe"),
    ("gw_cache_store", "observe"),
    ("gw_admit_tool_call", "collect"),
    ("gw_record_tool_call", "observe"),
)


class Pipeline:
    """Runs the request stages of one app's plugin manager; observers go to a queue drained off-path."""

    def __init__(self, pm: pluggy.PluginManager, observe_queue_size: int = 10_000) -> None:
        self._table = build_table(pm, tuple(name for name, _ in STAGES))
        self._observed: asyncio.Queue[Observation | None] = asyncio.Queue(observe_queue_size)

    def has(self, stage: str) -> bool:
        return bool(self._table[stage])

    async def authenticate(self, request: web.Request, ctx: CallContext) -> Principal | None:
        impls = self._table["gw_authenticate"]
        return await run_first(impls, {"request": request, "ctx": ctx}) if impls else None

    async def authorize(self, call: ChatCall, ctx: CallContext) -> None:
        if impls := self._table["gw_authorize"]:
            await run_collect(impls, {"call": call, "ctx": ctx})

    async def cache_lookup(self, call: ChatCall, ctx: CallContext) -> ChatResult | None:
        impls = self._table["gw_cache_lookup"]
        return await run_first(impls, {"call": call, "ctx": ctx}) if impls else None

    async def admit_cached(self, call: ChatCall, result: ChatResult, ctx: CallContext) -> None:
        if impls := self._table["gw_admit_cached"]:
            await run_collect(impls, {"call": call, "result": result, "ctx": ctx})

    async def route(self, call: ChatCall, ctx: CallContext) -> RoutePlan | None:
        impls = self._table["gw_route"]
        return await run_first(impls, {"call": call, "ctx": ctx}) if impls else None

    async def prepare_tools(self, call: ChatCall, ctx: CallContext) -> list[Tool]:
        impls = self._table["gw_prepare_tools"]
        if not impls:
            return []
        offered = await run_collect(impls, {"call": call, "ctx": ctx})
        return [tool for tools in offered for tool in tools]

    async def transform_request(self, call: ChatCall, ctx: CallContext) -> ChatCall:
        impls = self._table["gw_transform_request"]
        if not impls:
            return call
        new = await run_pipe(impls, "call", {"call": call, "ctx": ctx})
        return _without_stale_native_request(call, new)

    async def admit_attempt(self, call: ChatCall, ctx: CallContext) -> None:
        if impls := self._table["gw_admit_attempt"]:
            await run_collect(impls, {"call": call, "ctx": ctx})

    async def transform_response(self, call: ChatCall, result: ChatResult, ctx: CallContext) -> ChatResult:
        impls = self._table["gw_transform_response"]
        if not impls:
            return result
        new = await run_pipe(impls, "result", {"call": call, "result": result, "ctx": ctx})
        if new.native is not None and new.message is not result.message:
            new = replace(new, native=None)  # a plugin changed the answer: the upstream bytes no longer hold
        return new  # type: ignore[no-any-return]

    async def transform_chunk(self, call: ChatCall, chunk: Chunk, ctx: CallContext) -> Chunk:
        impls = self._table["gw_transform_chunk"]
        if not impls:
            return chunk
        new = await run_pipe(impls, "chunk", {"call": call, "chunk": chunk, "ctx": ctx})
        if new.frame is not None and new.events is not chunk.events:
            new = replace(new, frame=None, frame_dialect=None)
        return new  # type: ignore[no-any-return]

    def record_usage(self, call: ChatCall, usage: Usage, ctx: CallContext) -> None:
        trail(ctx).usage_recorded = True
        self._observe("gw_record_usage", {"call": call, "usage": usage, "ctx": ctx})

    def record_error(self, call: ChatCall, error: GatewayError, ctx: CallContext) -> None:
        self._observe("gw_record_error", {"call": call, "error": error, "ctx": ctx})

    def cache_store(self, call: ChatCall, result: ChatResult, ctx: CallContext) -> None:
        self._observe("gw_cache_store", {"call": call, "result": result, "ctx": ctx})

    async def admit_tool_call(self, tool: ToolCall, ctx: CallContext) -> None:
        if impls := self._table["gw_admit_tool_call"]:
            await run_collect(impls, {"tool": tool, "ctx": ctx})

    def record_tool_call(self, tool: ToolCall, outcome: ToolOutcome, ctx: CallContext) -> None:
        self._observe("gw_record_tool_call", {"tool": tool, "outcome": outcome, "ctx": ctx})

    def _observe(self, stage: str, kwargs: dict[str, Any]) -> None:
        if impls := self._table[stage]:
            try:
                self._observed.put_nowait((impls, kwargs))
            except asyncio.QueueFull:
                log.error("observe queue full: dropped %s for request %s", stage, kwargs["ctx"].request_id)

    async def drain_observers(self, stop: asyncio.Event) -> None:
        """Run queued observers until `stop` is set, then the ones still queued (owned by the app's cleanup_ctx)."""
        waker = asyncio.create_task(self._wake_on(stop))
        try:
            while (item := await self._observed.get()) is not None:
                await run_observe(*item)
        finally:
            waker.cancel()

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        await self._observed.put(None)  # behind everything already queued, so that runs first


def _without_stale_native_request(before: ChatCall, after: ChatCall) -> ChatCall:
    """A plugin that changed the request and kept the client's bytes made them stale: drop them. One that
    changed both (patched the bytes to match, as adaptation does) is taken at its word."""
    if after.native is not None and after.request is not before.request and after.native is before.native:
        return replace(after, native=None)
    return after


__all__ = ["STAGES", "Pipeline"]
