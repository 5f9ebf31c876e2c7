"""The spans of one call, with the GenAI semantic conventions: the gateway's request (a SERVER span, child of the
caller's `traceparent` when it sent one), one CLIENT span per upstream attempt (its context goes upstream as
`traceparent`), a cache lookup that answered, and each MCP tool call.

Spans are started on the request path only where an id must exist then (the attempt's, for the upstream header);
everything else happens in the observers (gw_record_usage / gw_record_error / gw_record_tool_call), off the
path, with the times the engine gives. The SDK's batch processor exports from its own thread.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from msgspec import UNSET
from msgspec.structs import replace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from gateway import hookimpl
from gateway.api import CallContext, ChatCall, ChatResult, GatewayError, ToolCall, ToolOutcome, anthropic

DIMENSION_PREFIX = "x-bf-dim-"
MAX_DIMENSIONS = 16  # a caller's headers become attributes: bounded in count and length
MAX_DIMENSION_CHARS = 128
PROPAGATOR = TraceContextTextMapPropagator()
AttributeValue = str | int | float | bool


@dataclass(slots=True)
class TraceState:
    """One call's spans (`ctx.state(TraceState)`)."""

    request: Span | None = None
    attempt: Span | None = None
    cache_started: int | None = None  # ns since the epoch, when the first cache lookup started
    ended: bool = False


def wall_ns(ctx: CallContext) -> int:
    """When the call started, in ns since the epoch (`ctx.started` is monotonic)."""
    return time.time_ns() - int((time.monotonic() - ctx.started) * 1e9)


def caller_context(ctx: CallContext) -> Context:
    """The caller's trace (its `traceparent` / `tracestate`), or a new root when it sent none (or a bad one)."""
    return PROPAGATOR.extract(carrier=ctx.headers)


class Tracing:
    """The hooks (registered only when a collector is configured)."""

    def __init__(self, tracer: Tracer) -> None:
        self._tracer = tracer

    @hookimpl(tryfirst=True)
    def gw_cache_lookup(self, ctx: CallContext) -> None:
        state = ctx.state(TraceState)
        if state.cache_started is None:
            state.cache_started = time.time_ns()

    @hookimpl
    def gw_admit_cached(self, call: ChatCall, result: ChatResult, ctx: CallContext) -> None:
        state = ctx.state(TraceState)
        request = self._request_span(call, ctx, state)
        now = time.time_ns()
        lookup = self._tracer.start_span(
            "cache lookup",
            context=set_span_in_context(request),
            start_time=state.cache_started or now,
            attributes={"gateway.cache.hit": True, "gen_ai.request.model": call.model},
        )
        lookup.end(now)
        request.set_attributes({"gateway.cache.hit": True, "gen_ai.response.model": result.message.model})
        request.end(now)
        state.ended = True

    @hookimpl(trylast=True)  # after every other transform: the header must be on the call that goes out
    def gw_transform_request(self, call: ChatCall, ctx: CallContext) -> ChatCall:
        assert call.target is not None
        state = ctx.state(TraceState)
        request = self._request_span(call, ctx, state)
        now = time.time_ns()
        if state.attempt is not None:  # the previous target failed and this one is its fallback
            state.attempt.set_status(Status(StatusCode.ERROR, "failed; the next target was tried"))
            state.attempt.end(now)
        state.attempt = attempt = self._tracer.start_span(
            f"chat {call.target.model}",
            context=set_span_in_context(request),
            kind=SpanKind.CLIENT,
            start_time=now,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.system": call.target.provider,
                "gen_ai.provider.name": call.target.provider,
                "gen_ai.request.model": call.target.model,
                "gateway.fallback_index": ctx.fallback_index,
            },
        )
        carrier: dict[str, str] = {}
        PROPAGATOR.inject(carrier, context=set_span_in_context(attempt))
        return replace(call, upstream_headers=(*call.upstream_headers, *carrier.items()))

    @hookimpl
    def gw_record_usage(self, call: ChatCall, usage: anthropic.Usage, ctx: CallContext) -> None:
        state = ctx.state(TraceState)
        if state.ended or state.request is None:
            return
        now, used = time.time_ns(), usage_attributes(usage)
        if state.attempt is not None:
            state.attempt.set_attributes(used)
            state.attempt.end(now)
        served = ctx.served_by
        state.request.set_attributes(
            {**used, **_outcome(ctx), **({"gen_ai.system": served.provider} if served is not None else {})}
        )
        state.request.end(now)
        state.ended = True

    @hookimpl
    def gw_record_error(self, call: ChatCall, error: GatewayError, ctx: CallContext) -> None:
        state = ctx.state(TraceState)
        if state.ended:
            return
        now = time.time_ns()
        failed: dict[str, AttributeValue] = {"error.type": error.kind, "http.response.status_code": error.status}
        status = Status(StatusCode.ERROR, error.message)
        if state.attempt is not None:
            state.attempt.set_attributes(failed)
            state.attempt.set_status(status)
            state.attempt.end(now)
        request = self._request_span(call, ctx, state)
        request.set_attributes({**failed, **_outcome(ctx)})
        request.set_status(status)
        request.end(now)
        state.ended = True

    @hookimpl
    def gw_record_tool_call(self, tool: ToolCall, outcome: ToolOutcome, ctx: CallContext) -> None:
        request = ctx.state(TraceState).request
        parent = set_span_in_context(request) if request is not None else caller_context(ctx)
        now = time.time_ns()
        span = self._tracer.start_span(
            f"execute_tool {tool.name}",
            context=parent,
            start_time=now - int(outcome.duration_s * 1e9),
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": tool.name,
                "gateway.mcp.client": tool.client,
                "gateway.mcp.tool": tool.tool,
                "gateway.mcp.via": tool.via,
                "gateway.request_id": ctx.request_id,
            },
        )
        if outcome.error is not None:
            span.set_attribute("error.type", outcome.error.kind)
            span.set_status(Status(StatusCode.ERROR, outcome.error.message))
        elif outcome.is_error:
            span.set_attribute("error.type", "tool_error")
            span.set_status(Status(StatusCode.ERROR, "the tool reported an error"))
        span.end(now)

    def _request_span(self, call: ChatCall, ctx: CallContext, state: TraceState) -> Span:
        if state.request is None:
            state.request = self._tracer.start_span(
                f"chat {call.model}",
                context=caller_context(ctx),
                kind=SpanKind.SERVER,
                start_time=wall_ns(ctx),
                attributes=request_attributes(call, ctx),
            )
        return state.request


def request_attributes(call: ChatCall, ctx: CallContext) -> dict[str, AttributeValue]:
    request = call.request
    found: dict[str, AttributeValue] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": call.model,
        "gateway.request_id": ctx.request_id,
        "gateway.dialect": call.dialect,
        "gateway.stream": call.stream,
    }
    for name, value in (
        ("gen_ai.request.max_tokens", request.max_tokens),
        ("gen_ai.request.temperature", request.temperature),
        ("gen_ai.request.top_p", request.top_p),
    ):
        if value is not UNSET:
            found[name] = value
    if ctx.principal is not None and ctx.principal.kind != "anonymous":
        found["gateway.principal.kind"] = ctx.principal.kind
        found["gateway.principal.name"] = ctx.principal.name  # a name, never the key
        if ctx.principal.team:
            found["gateway.principal.team"] = ctx.principal.team
    found.update(dimensions(ctx))
    return found


def dimensions(ctx: CallContext) -> dict[str, str]:
    """`x-bf-dim-<label>` headers as `gen_ai.dimension.<label>` (Bifrost's), a bounded number of bounded ones."""
    found: dict[str, str] = {}
    for name, value in ctx.headers.items():
        if len(found) == MAX_DIMENSIONS:
            break
        lowered = name.lower()
        if lowered.startswith(DIMENSION_PREFIX) and len(lowered) <= len(DIMENSION_PREFIX) + MAX_DIMENSION_CHARS:
            found[f"gen_ai.dimension.{lowered.removeprefix(DIMENSION_PREFIX)}"] = value[:MAX_DIMENSION_CHARS]
    return found


def usage_attributes(usage: anthropic.Usage) -> dict[str, AttributeValue]:
    return {
        "gen_ai.usage.input_tokens": usage.input_tokens,
        "gen_ai.usage.output_tokens": usage.output_tokens,
        "gen_ai.usage.cache_read.input_tokens": usage.cache_read_input_tokens or 0,
        "gen_ai.usage.cache_creation.input_tokens": usage.cache_creation_input_tokens or 0,
    }


def _outcome(ctx: CallContext) -> dict[str, AttributeValue]:
    found: dict[str, AttributeValue] = {"gateway.fallback_index": ctx.fallback_index, "gateway.attempts": ctx.attempts}
    if ctx.served_by is not None:
        found["gen_ai.response.model"] = ctx.served_by.model
        found["gateway.provider"] = ctx.served_by.provider
    return found
