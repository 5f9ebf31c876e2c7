"""The stage flow of one call, shared by the synchronous routes (and, later, async jobs).

authorize -> cache_lookup -> route -> prepare_tools -> for each planned target: transform_request ->
provider (with retries) -> transform_response | transform_chunk; record_usage and cache_store go to observers.
A target that fails with an upstream error hands over to the next one (a fallback) until the plan runs out;
the client then gets the primary target's error.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from msgspec.structs import replace

from ..accounting import StreamAccount, message_usage, total_usage
from ..call import ChatCall, ChatResult, Chunk, RoutePlan, Target, with_model
from ..context import finish_unrecorded, trail
from ..errors import GatewayError, InvalidRequest, PermissionDenied, UpstreamError
from ..keys import REDACTOR
from ..providers.body import relayable
from ..routing import check_model_name, unrouted
from ..schemas import anthropic as a
from ..streaming import MessageAssembler, message_to_events
from ..tokens import estimate, prompt_size

T = TypeVar("T")

if TYPE_CHECKING:
    from ..context import CallContext
    from ..providers.executor import OpenStream, Providers
    from .stages import Pipeline


class Engine:
    """The pipeline and the providers of one app: what a route handler or a job worker runs a call with."""

    def __init__(self, pipeline: Pipeline, providers: Providers, plugin_configs: dict[type, object]) -> None:
        self.pipeline = pipeline
        self.providers = providers
        self.plugin_configs = plugin_configs

    async def complete(self, call: ChatCall, ctx: CallContext) -> ChatResult:
        try:
            return await self._complete(call, ctx)
        except GatewayError as exc:
            self._record_error(call, exc, ctx)
            raise
        finally:
            finish_unrecorded(ctx)

    async def stream(self, call: ChatCall, ctx: CallContext) -> tuple[ChatCall, AsyncIterator[Chunk]]:
        """Open a stream; errors before its first chunk raise here, so they can still be HTTP errors."""
        try:
            call, chunks = await self._stream(call, ctx)
        except BaseException as exc:
            if isinstance(exc, GatewayError):
                self._record_error(call, exc, ctx)
            finish_unrecorded(ctx)
            raise
        return call, chunks

    def _record_error(self, call: ChatCall, exc: GatewayError, ctx: CallContext) -> None:
        """gw_record_error sees the error the client gets: secrets masked."""
        if self.pipeline.has("gw_record_error"):
            self.pipeline.record_error(call, ctx.app[REDACTOR].error(exc), ctx)

    async def _complete(self, call: ChatCall, ctx: CallContext) -> ChatResult:
        call, cached = await self._prepare(call, ctx)
        if cached is not None:
            return cached

        async def run(attempt: ChatCall) -> tuple[ChatCall, ChatResult]:
            return attempt, await self.providers.complete(attempt, ctx)

        attempt, result = await self._first_success(call, ctx, run)
        # The provider's own usage, taken before a plugin may change the message, and recorded however the
        # transform ends: a plugin that makes more calls and then fails must not leave them unbilled.
        usage = message_usage(result.message, lambda: self._prompt_estimate(attempt))
        try:
            result = await self.pipeline.transform_response(attempt, result, ctx)
        finally:
            trail(ctx).answered_at = time.monotonic()
            self.pipeline.record_usage(attempt, total_usage(usage, trail(ctx).extra_usage), ctx)
        self.pipeline.cache_store(attempt, result, ctx)
        return result

    async def _stream(self, call: ChatCall, ctx: CallContext) -> tuple[ChatCall, AsyncIterator[Chunk]]:
        call, cached = await self._prepare(call, ctx)
        if cached is not None:
            finish_unrecorded(ctx)
            events = message_to_events(cached.message)
            return call, _iterate([Chunk(events=tuple(events))])

        async def run(attempt: ChatCall) -> tuple[ChatCall, OpenStream]:
            attempt = replace(attempt, relay_stream=self._relays(attempt, ctx))
            return attempt, await self.providers.open_stream(attempt, ctx)

        attempt, opened = await self._first_success(call, ctx, run)
        trail(ctx).answered_at = time.monotonic()
        return attempt, self._observed(attempt, opened, ctx)

    async def call_target(self, call: ChatCall, ctx: CallContext) -> ChatResult:
        """`CallContext.call_target`: one more complete call on `call.target`, its usage kept for the call's
        record. Within a stream that holds a slot of the same provider it takes no second one: it is the same
        call going on (and with `concurrency: 1` it would otherwise wait for itself)."""
        if call.target is None:
            raise ValueError("ctx.call_target needs a call with a target (the attempt's call)")
        provider = call.target.provider
        call = replace(call, native=None, stream=False, relay_stream=False)
        record = trail(ctx)
        began = time.monotonic()
        try:
            result = await self.providers.complete(call, ctx, gated=record.holding != provider)
        finally:
            record.upstream_seconds += time.monotonic() - began
        record.extra_usage.append(message_usage(result.message, lambda: self._prompt_estimate(call)))
        return result

    async def _first_success(
        self, call: ChatCall, ctx: CallContext, run: Callable[[ChatCall], Awaitable[tuple[ChatCall, T]]]
    ) -> tuple[ChatCall, T]:
        """Try the plan's targets in order, each through gw_transform_request, gw_admit_attempt and its provider
        (with retries).

        The primary's error stops everything unless another target may do better (it is down, throttled or
        refused our key); a fallback that fails in any way hands over to the next. If all fail, the client
        gets the primary's error.
        """
        assert ctx.plan is not None
        primary_error: GatewayError | None = None
        for index, target in enumerate(ctx.plan.targets):
            trail(ctx).fallback_index = index
            try:
                attempt = await self.pipeline.transform_request(replace(call, target=target), ctx)
                await self.pipeline.admit_attempt(attempt, ctx)
                began = time.monotonic()
                try:
                    attempt, result = await run(attempt)
                finally:
                    trail(ctx).upstream_seconds += time.monotonic() - began
            except GatewayError as exc:
                if index == 0 and not (isinstance(exc, UpstreamError) and _falls_back(exc)):
                    raise
                primary_error = primary_error or exc
                continue
            trail(ctx).served_by = target
            return attempt, result
        assert primary_error is not None
        raise primary_error

    def _relays(self, call: ChatCall, ctx: CallContext) -> bool:
        """True when no stage reads a stream's events beyond its usage: see `ChatCall.relay_stream`."""
        assert call.target is not None
        provider = self.providers.get(call.target.provider)
        if self._assembles(ctx) or self.pipeline.has("gw_transform_chunk"):
            return False
        if ctx.stream_transforms or ctx.stream_wrappers:
            return False
        return relayable(call, provider.dialect)

    def _assembles(self, ctx: CallContext) -> bool:
        return ctx.assemble_stream and self.pipeline.has("gw_cache_store")

    async def count_tokens(self, call: ChatCall, ctx: CallContext) -> int:
        plan = await self._plan(call, ctx)
        return await self.providers.count_tokens(replace(call, target=plan.targets[0]), ctx)

    async def _prepare(self, call: ChatCall, ctx: CallContext) -> tuple[ChatCall, ChatResult | None]:
        await self.pipeline.authorize(call, ctx)
        cached = await self.pipeline.cache_lookup(call, ctx)
        if cached is not None:
            await self.pipeline.admit_cached(call, cached, ctx)
            return call, cached
        await self._plan(call, ctx)
        tools = await self.pipeline.prepare_tools(call, ctx)
        if tools:
            existing = call.request.tools if isinstance(call.request.tools, list) else []
            call = replace(call, request=replace(call.request, tools=[*existing, *tools]), native=None)
        return call, None

    async def _plan(self, call: ChatCall, ctx: CallContext) -> RoutePlan:
        plan = await self.pipeline.route(call, ctx)
        if plan is None or not plan.targets:
            raise InvalidRequest(unrouted(call.model, ctx.settings), param="model")
        if call.fallbacks:
            plan = await self._with_fallbacks(plan, call, ctx)
        trail(ctx).plan = plan
        return plan

    async def _with_fallbacks(self, plan: RoutePlan, call: ChatCall, ctx: CallContext) -> RoutePlan:
        """The body's fallbacks, each routed like a model of its own (gw_route), go right after the primary and
        before the router's own (a virtual key's others). One the caller may not use is left out, as its
        attempt would be refused."""
        assert call.fallbacks is not None
        named: list[Target] = []
        for index, model in enumerate(call.fallbacks):
            check_model_name(model, f"fallbacks[{index}]")
            try:
                routed = await self.pipeline.route(with_model(call, model), ctx)
            except PermissionDenied:
                continue
            if routed is None or not routed.targets:
                raise InvalidRequest(f"fallbacks[{index}]: {unrouted(model, ctx.settings)}", param="fallbacks")
            named.extend(routed.targets)
        ordered = [plan.targets[0], *named, *plan.targets[1:]]
        return RoutePlan(targets=tuple(dict.fromkeys(ordered)))

    async def _observed(self, call: ChatCall, opened: OpenStream, ctx: CallContext) -> AsyncIterator[Chunk]:
        """Pass chunks through gw_transform_chunk, the call's own transforms and wrappers, and record the stream's
        usage once it ends (however it ends: an early end is billed by `gateway.accounting`)."""
        account = StreamAccount(call.relay_stream, keep_text=self.pipeline.has("gw_record_usage"))
        assembler = MessageAssembler() if self._assembles(ctx) else None
        chunks = base = self._transformed(call, opened, account, ctx)
        for wrapper in ctx.stream_wrappers:
            chunks = wrapper(call, chunks)
        assert call.target is not None
        trail(ctx).holding = call.target.provider
        try:
            async for chunk in chunks:
                if assembler is not None:
                    for event in chunk.events:
                        assembler.feed(event)
                yield chunk
        except GatewayError as exc:  # after the first byte: the stream ends with it, and it is recorded
            self._record_error(call, exc, ctx)
            raise
        finally:
            await _aclose(chunks)
            await _aclose(base)  # a wrapper closed early may not have closed what it wrapped
            opened.release()
            trail(ctx).holding = None
            usage = account.usage(lambda: self._prompt_estimate(call))
            self.pipeline.record_usage(call, total_usage(usage, trail(ctx).extra_usage), ctx)
        # Only a stream that reached its end is a complete answer to store (an error or a client gone skips this).
        message = assembler.message() if assembler is not None else None
        if message is not None:
            self.pipeline.cache_store(call, ChatResult(message=message), ctx)

    async def _transformed(
        self, call: ChatCall, opened: OpenStream, account: StreamAccount, ctx: CallContext
    ) -> AsyncIterator[Chunk]:
        """The provider's chunks, counted for billing, then through gw_transform_chunk and the call's transforms."""
        transform = self.pipeline.has("gw_transform_chunk")
        own = ctx.stream_transforms  # this call's (set by gw_transform_request for this attempt)
        chunk: Chunk | None = opened.first
        rest = opened.rest
        record = trail(ctx)
        try:
            while chunk is not None:
                if record.first_token_at is None and (chunk.events or chunk.frame):
                    record.first_token_at = time.monotonic()
                account.feed(chunk)  # the provider's own events: a transform may rewrite or hold them back
                if transform:
                    chunk = await self.pipeline.transform_chunk(call, chunk, ctx)
                for step in own:
                    chunk = await step(call, chunk)
                if own:
                    self._record_ending(call, chunk, ctx)
                yield chunk
                chunk = await anext(rest, None)
        finally:
            await _aclose(rest)

    async def stream_target(self, call: ChatCall, ctx: CallContext) -> AsyncIterator[Chunk]:
        """`CallContext.stream_target`: one more stream on `call.target`, decoded, its usage kept for the call's
        record when it ends. Like `call_target`, it takes no second slot of the provider the call holds."""
        if call.target is None:
            raise ValueError("ctx.stream_target needs a call with a target (the attempt's call)")
        gated = trail(ctx).holding != call.target.provider
        call = replace(call, native=None, stream=True, relay_stream=False)
        opened = await self.providers.open_stream(call, ctx, gated=gated)
        return self._extra_stream(call, opened, ctx)

    async def _extra_stream(self, call: ChatCall, opened: OpenStream, ctx: CallContext) -> AsyncIterator[Chunk]:
        account = StreamAccount(relay=False, keep_text=True)
        chunk: Chunk | None = opened.first
        try:
            while chunk is not None:
                account.feed(chunk)
                yield chunk
                chunk = await anext(opened.rest, None)
        finally:
            await _aclose(opened.rest)
            opened.release()
            trail(ctx).extra_usage.append(account.usage(lambda: self._prompt_estimate(call)))

    def _record_ending(self, call: ChatCall, chunk: Chunk, ctx: CallContext) -> None:
        """A stream transform that ends the stream with an error event (a structured answer that did not
        validate) failed the call as surely as a raised error: gw_record_error hears of it the same way."""
        if chunk.events and isinstance(chunk.events[-1], a.StreamError):
            error = chunk.events[-1].error
            self._record_error(call, UpstreamError(error.message, status=502, kind=error.type), ctx)

    def _prompt_estimate(self, call: ChatCall) -> int:
        """The prompt's tokens as the target's provider counts them (for a call that reported no usage)."""
        assert call.target is not None
        return estimate(prompt_size(call), self.providers.media_rules(call.target))


def _falls_back(exc: UpstreamError) -> bool:
    """Another target may succeed where this one was down, throttled or refused our key; not on a bad request."""
    return exc.status >= 500 or exc.status in (401, 402, 403, 408, 429)


async def _iterate(chunks: list[Chunk]) -> AsyncIterator[Chunk]:
    for chunk in chunks:
        yield chunk


async def _aclose(chunks: AsyncIterator[Chunk]) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()
