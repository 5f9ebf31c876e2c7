"""The spans of one call, with the GenAI semantic conventions: the gateway's request (a SERVER span, child of the
caller's `traceparent` when it sent one), one CLIENT span per upstream attempt (its context goes upstream as
`traceparent`), a cache lookup that answered, and each MCP tool call.

Spans are started on the request path only where an id must exist then (the attempt's, for the upstream header);
everything else happens in the observers (gw_record_usage / gw_record_error / gw_record_tool_call), off the
path, with the times the engine gives. The SDK's batch processor exports from its own thread.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from msgspec import UNSET
from msgspec.structs import replace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Attributes, Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    get_current_span,
    set_span_in_context,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from gateway import hookimpl
from gateway.api import CallContext, ChatCall, ChatResult, GatewayError, ToolCall, ToolOutcome, anthropic

DIMENSION_PREFIX = "x-bf-dim-"
MAX_DIMENSIONS = 16  # a caller's headers become attributes: bounded in count and length
MAX_DIMENSION_CHARS = 128
PROPAGATOR = TraceContextTextMapPropagator()
UNSET_STATUS = Status(StatusCode.UNSET)
AttributeValue = str | int | float | bool


class HashedResource(Resource):
    """A Resource whose hash is computed once: the OTLP encoder groups every exported span by its resource, and
    Resource's own hash JSON-encodes its attributes each time (~4 us a span)."""

    def __init__(self, attributes: Attributes, schema_url: str | None = None) -> None:
        super().__init__(attributes, schema_url)
        self._hash = super().__hash__()

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return super().__eq__(other)


@dataclass(slots=True)
class OpenSpan:
    """A span begun and not yet ended: plain data until `Spans.end` hands it to the processor."""

    name: str
    context: SpanContext
    parent: SpanContext | None
    kind: SpanKind
    start: int  # ns since the epoch
    attributes: dict[str, AttributeValue]
    recording: bool  # the sampler's decision: a span that does not record is never exported
    status: Status = field(default=UNSET_STATUS)

    def set_attributes(self, attributes: dict[str, AttributeValue]) -> None:
        self.attributes.update(attributes)


class Spans:
    """Spans as the SDK's tracer makes them (the provider's sampler, ids, trace flags and resource), but held as
    plain data while open and handed to the span processor as one ReadableSpan when they end. The SDK's own Span
    takes locks, validates every attribute as it is set and copies itself at its end: a call's two spans cost
    ~30 us of CPU on the request's path that way, ~4 this way."""

    def __init__(self, provider: TracerProvider, processor: SpanProcessor, scope: InstrumentationScope) -> None:
        self._sampler = provider.sampler
        self._ids = provider.id_generator
        self._resource = provider.resource
        self._processor = processor
        self._scope = scope

    def begin(
        self, name: str, parent: Context | OpenSpan, kind: SpanKind, start: int, attributes: dict[str, AttributeValue]
    ) -> OpenSpan:
        """`parent`: a span of ours, or the caller's context (an empty one: the span is a new trace's root)."""
        if isinstance(parent, OpenSpan):
            parent_context: SpanContext | None = parent.context
            context = set_span_in_context(NonRecordingSpan(parent.context))
        else:
            parent_context, context = get_current_span(parent).get_span_context(), parent
        if parent_context is None or not parent_context.is_valid:
            parent_context, trace_id = None, self._ids.generate_trace_id()
            random_id = self._ids.is_trace_id_random()
        else:
            trace_id, random_id = parent_context.trace_id, parent_context.trace_flags.random_trace_id
        sampled = self._sampler.should_sample(context, trace_id, name, kind, attributes)
        flags = TraceFlags.SAMPLED if sampled.decision is Decision.RECORD_AND_SAMPLE else TraceFlags.DEFAULT
        if random_id:
            flags |= TraceFlags.RANDOM_TRACE_ID
        span_context = SpanContext(
            trace_id,
            self._ids.generate_span_id(),
            is_remote=False,
            trace_flags=TraceFlags(flags),
            trace_state=sampled.trace_state,
        )
        found = dict(sampled.attributes or {})
        recording = sampled.decision in (Decision.RECORD_ONLY, Decision.RECORD_AND_SAMPLE)
        return OpenSpan(name, span_context, parent_context, kind, start, found, recording)

    def end(self, span: OpenSpan, at: int) -> None:
        if span.recording:
            readable = ReadableSpan(
                name=span.name,
                context=span.context,
                parent=span.parent,
                resource=self._resource,
                attributes=span.attributes,
                kind=span.kind,
                status=span.status,
                start_time=span.start,
                end_time=at,
                instrumentation_scope=self._scope,
            )
            self._processor.on_end(readable)


@dataclass(slots=True)
class TraceState:
    """One call's spans (`ctx.state(TraceState)`)."""

    request: OpenSpan | None = None
    attempt: OpenSpan | None = None
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

    def __init__(self, spans: Spans) -> None:
        self._spans = spans

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
        lookup = self._spans.begin(
            "cache lookup",
            request,
            SpanKind.INTERNAL,
            state.cache_started or now,
            {"gateway.cache.hit": True, "gen_ai.request.model": call.model},
        )
        self._spans.end(lookup, now)
        request.set_attributes({"gateway.cache.hit": True, "gen_ai.response.model": result.message.model})
        self._spans.end(request, now)
        state.ended = True

    @hookimpl(trylast=True)  # after every other transform: the header must be on the call that goes out
    def gw_transform_request(self, call: ChatCall, ctx: CallContext) -> ChatCall:
        assert call.target is not None
        state = ctx.state(TraceState)
        request = self._request_span(call, ctx, state)
        now = time.time_ns()
        if state.attempt is not None:  # the previous target failed and this one is its fallback
            state.attempt.status = Status(StatusCode.ERROR, "failed; the next target was tried")
            self._spans.end(state.attempt, now)
        state.attempt = attempt = self._spans.begin(
            f"chat {call.target.model}",
            request,
            SpanKind.CLIENT,
            now,
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.system": call.target.provider,
                "gen_ai.provider.name": call.target.provider,
                "gen_ai.request.model": call.target.model,
                "gateway.fallback_index": ctx.fallback_index,
            },
        )
        carrier: dict[str, str] = {}
        PROPAGATOR.inject(carrier, context=set_span_in_context(NonRecordingSpan(attempt.context)))
        return replace(call, upstream_headers=(*call.upstream_headers, *carrier.items()))

    @hookimpl
    def gw_record_usage(self, call: ChatCall, usage: anthropic.Usage, ctx: CallContext) -> None:
        state = ctx.state(TraceState)
        if state.ended or state.request is None:
            return
        now, used = time.time_ns(), usage_attributes(usage)
        if state.attempt is not None:
            state.attempt.set_attributes(used)
            self._spans.end(state.attempt, now)
        served = ctx.served_by
        state.request.set_attributes(
            {**used, **_outcome(ctx), **({"gen_ai.system": served.provider} if served is not None else {})}
        )
        self._spans.end(state.request, now)
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
            state.attempt.status = status
            self._spans.end(state.attempt, now)
        request = self._request_span(call, ctx, state)
        request.set_attributes({**failed, **_outcome(ctx)})
        request.status = status
        self._spans.end(request, now)
        state.ended = True

    @hookimpl
    def gw_record_tool_call(self, tool: ToolCall, outcome: ToolOutcome, ctx: CallContext) -> None:
        request = ctx.state(TraceState).request
        parent = request if request is not None else caller_context(ctx)
        now = time.time_ns()
        span = self._spans.begin(
            f"execute_tool {tool.name}",
            parent,
            SpanKind.INTERNAL,
            now - int(outcome.duration_s * 1e9),
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": tool.name,
                "gateway.mcp.client": tool.client,
                "gateway.mcp.tool": tool.tool,
                "gateway.mcp.via": tool.via,
                "gateway.request_id": ctx.request_id,
            },
        )
        if outcome.error is not None:
            span.attributes["error.type"] = outcome.error.kind
            span.status = Status(StatusCode.ERROR, outcome.error.message)
        elif outcome.is_error:
            span.attributes["error.type"] = "tool_error"
            span.status = Status(StatusCode.ERROR, "the tool reported an error")
        self._spans.end(span, now)

    def _request_span(self, call: ChatCall, ctx: CallContext, state: TraceState) -> OpenSpan:
        if state.request is None:
            state.request = self._spans.begin(
                f"chat {call.model}",
                caller_context(ctx),
                SpanKind.SERVER,
                wall_ns(ctx),
                request_attributes(call, ctx),
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
