"""The per-call context every request stage receives, and the engine's own record of the call beside it.

`CallContext` is the plugin-facing part (it is in `gateway.api`): who asked, how, the plugin's config and state,
and read-only facts about what the engine did (`plan`, `served_by`, `fallback_index`, `attempts`). What the
engine keeps to run the call (counting attempts, whether usage was recorded, the callbacks for a call that never
reports it) lives in `CallTrail`, which only the engine reaches, through `trail(ctx)`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from .tokens import DEFAULT as DEFAULT_MEDIA_RULES

if TYPE_CHECKING:
    from aiohttp import web
    from multidict import CIMultiDictProxy

    from .call import ChatCall, ChatResult, Chunk, Dialect, Principal, RoutePlan, Target
    from .config import Settings
    from .schemas.anthropic import Usage
    from .tokens import MediaRules

T = TypeVar("T")
# A transform of one call's stream (`CallContext.transform_stream`): the attempt's call and a chunk, to a chunk.
ChunkTransform = Callable[["ChatCall", "Chunk"], Awaitable["Chunk"]]
# A wrapper of one call's whole stream (`CallContext.wrap_stream`): the attempt's call and its chunks, to chunks.
StreamWrapper = Callable[["ChatCall", AsyncIterator["Chunk"]], AsyncIterator["Chunk"]]


def default_media_rules(target: Target) -> MediaRules:
    return DEFAULT_MEDIA_RULES


def no_wire_dialect(target: Target) -> Dialect | None:
    return None


async def no_target_caller(call: ChatCall, ctx: CallContext) -> ChatResult:
    raise RuntimeError("this context has no engine to call a target with (build it with gateway.answer.new_context)")


async def no_target_streamer(call: ChatCall, ctx: CallContext) -> AsyncIterator[Chunk]:
    raise RuntimeError("this context has no engine to stream from (build it with gateway.answer.new_context)")


@dataclass(slots=True, eq=False)
class CallTrail:
    """The engine's bookkeeping of one call (not for plugins: `CallContext` shows them what they may read)."""

    plan: RoutePlan | None = None
    served_by: Target | None = None
    fallback_index: int = 0
    attempts: int = 0  # upstream attempts, retries included
    usage_recorded: bool = False  # gw_record_usage was scheduled
    extra_usage: list[Usage] = field(default_factory=list)  # of the calls plugins made with `ctx.call_target`
    holding: str | None = None  # the provider whose slot the call's open stream holds
    upstream_seconds: float = 0.0  # waiting on providers: see CallContext.upstream_seconds
    outside_seconds: float = 0.0  # see CallContext.waiting_outside
    answered_at: float | None = None  # see CallContext.answered_at
    first_token_at: float | None = None  # see CallContext.first_token_at
    unrecorded: list[Callable[[], None]] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class CallContext:
    """One call as the stages see it. Lives as long as the call; build it with `gateway.answer.new_context`."""

    request_id: str
    app: web.Application
    settings: Settings
    headers: CIMultiDictProxy[str]
    route_prefix: str = ""  # "anthropic" | "openai" | "" (the bare /v1 routes)
    principal: Principal | None = None  # set by gw_authenticate
    started: float = field(default_factory=time.monotonic)
    plugin_configs: dict[type, object] = field(default_factory=dict, repr=False)
    # How a target's provider counts images and PDF pages (`gateway.tokens`), to size a prompt before the call.
    media_rules: Callable[[Target], MediaRules] = field(default=default_media_rules, repr=False)
    # The client dialect a target's provider speaks on its wire (None: a wire of its own, like Gemini's): what
    # the target will be sent, translated from the canonical call or the client's body relayed.
    wire_dialect: Callable[[Target], Dialect | None] = field(default=no_wire_dialect, repr=False)
    # Set by a plugin (a response cache, in gw_cache_lookup) that wants a stream's complete answer: the engine
    # then decodes every event (no byte-only relay) and hands a stream that ended cleanly to gw_cache_store.
    assemble_stream: bool = False
    # Set by a plugin (in gw_transform_request) that holds a stream's chunks back: the response's headers then go
    # out with its first bytes, so headers set while the stream runs (`set_header`) still reach the client.
    defer_stream_headers: bool = False
    # What `call_target` runs (the engine's, injected by `new_context`).
    target_caller: Callable[[ChatCall, CallContext], Awaitable[ChatResult]] = field(
        default=no_target_caller, repr=False
    )
    # What `stream_target` runs (the engine's, injected by `new_context`).
    target_streamer: Callable[[ChatCall, CallContext], Awaitable[AsyncIterator[Chunk]]] = field(
        default=no_target_streamer, repr=False
    )
    _headers: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _stream_wrappers: dict[str, StreamWrapper] = field(default_factory=dict, init=False, repr=False)
    _stream_transforms: dict[str, ChunkTransform] = field(default_factory=dict, init=False, repr=False)
    _trail: CallTrail = field(default_factory=CallTrail, init=False, repr=False)
    _states: dict[type, object] = field(default_factory=dict, init=False, repr=False)

    def config(self, config_type: type[T]) -> T:
        """The validated config of a plugin, by the Struct type it registered."""
        value = self.plugin_configs.get(config_type)
        if value is None:
            raise LookupError(f"no plugin config of type {config_type.__name__}")
        return value  # type: ignore[return-value]

    def state(self, state_type: type[T]) -> T:
        """A plugin's own per-call state, created (with no arguments) on first use."""
        value = self._states.get(state_type)
        if value is None:
            value = self._states[state_type] = state_type()
        return value  # type: ignore[return-value]

    def set_header(self, name: str, value: str | None) -> None:
        """Add a header to the client's response (streams included), or with None take back one this call set
        (a stage that runs per attempted target sets it again for the target that is tried next)."""
        if value is None:
            self._headers.pop(name.lower(), None)
        else:
            self._headers[name.lower()] = value

    def transform_stream(self, name: str, transform: ChunkTransform | None) -> None:
        """Pass this call's stream through `transform` (after gw_transform_chunk), registered under `name`; None
        takes it back (a stage that runs per attempted target sets it again for the next one). Unlike a
        gw_transform_chunk hook, which sees every call's stream and so keeps every stream from being relayed as
        bytes, this decodes only this call's stream: a plugin that works on a few calls costs the others nothing.
        The transform may hold events back (return a Chunk without them) and raise a GatewayError to end the
        stream with an error event."""
        if transform is None:
            self._stream_transforms.pop(name, None)
        else:
            self._stream_transforms[name] = transform

    @property
    def stream_transforms(self) -> tuple[ChunkTransform, ...]:
        """This call's stream transforms, in the order they were set."""
        return tuple(self._stream_transforms.values())

    def wrap_stream(self, name: str, wrapper: StreamWrapper | None) -> None:
        """Pass this call's whole stream through `wrapper` (after the stream transforms), registered under `name`;
        None takes it back. Where a transform maps one chunk to one chunk, a wrapper is an async generator over
        the chunks: it may hold some back and send more than it got, e.g. the streams of further calls it makes
        with `stream_target` once the provider's own has ended (an agent loop). The call's usage is recorded
        after the wrapper has finished, so those calls are part of it. Like a transform, it costs only the
        calls that set it (their stream is decoded instead of relayed as bytes)."""
        if wrapper is None:
            self._stream_wrappers.pop(name, None)
        else:
            self._stream_wrappers[name] = wrapper

    @property
    def stream_wrappers(self) -> tuple[StreamWrapper, ...]:
        """This call's stream wrappers, in the order they were set (the first wraps the stream first)."""
        return tuple(self._stream_wrappers.values())

    @property
    def response_headers(self) -> dict[str, str]:
        """The headers plugins set for the client's response (a copy)."""
        return dict(self._headers)

    async def call_target(self, call: ChatCall) -> ChatResult:
        """One more upstream call on `call.target` (its provider, key choice and retries), made after the call's
        own answer came: e.g. to ask again for an answer that did not validate. Always a complete (non-stream)
        answer, sent from `call.request` (the client's bytes are not relayed). No stage runs for it (no
        gw_transform_request, no gw_admit_attempt: it is part of the attempt that was admitted); its usage is
        added to the usage the call records (gw_record_usage), and its upstream attempts count in `attempts`."""
        return await self.target_caller(call, self)

    async def stream_target(self, call: ChatCall) -> AsyncIterator[Chunk]:
        """Like `call_target`, but a stream (decoded events, never relayed bytes), for a stream wrapper to pass on:
        errors before its first chunk raise here; its usage is added to the call's when it ends, however it ends.
        Close it (`aclose`) if you stop reading early."""
        return await self.target_streamer(call, self)

    def on_unrecorded(self, callback: Callable[[], None]) -> None:
        """Run `callback` if the call ends without gw_record_usage (it failed, or a cache answered it): the way
        to release what a plugin reserved for a call that will never report its usage."""
        self._trail.unrecorded.append(callback)

    @property
    def plan(self) -> RoutePlan | None:
        """The targets routing chose, in the order they are tried (None before gw_route)."""
        return self._trail.plan

    @property
    def served_by(self) -> Target | None:
        """The target that answered (None until one did)."""
        return self._trail.served_by

    @property
    def fallback_index(self) -> int:
        """Which target of the plan is (or was last) tried: 0 for the primary."""
        return self._trail.fallback_index

    @property
    def attempts(self) -> int:
        """Upstream attempts so far, retries and fallbacks included."""
        return self._trail.attempts

    # Timing facts (time.monotonic(), like `started`), for metrics and logs: what the gateway itself added to a
    # call is `overhead_seconds`.
    @contextlib.contextmanager
    def waiting_outside(self) -> Iterator[None]:
        """Time spent inside is not the gateway's own (`overhead_seconds` leaves it out): a plugin waiting on
        something outside it before the answer (MCP tools in agent mode, a policy service) says so. Wrap the
        outermost wait once: parallel waits wrapped one by one would be counted more than once. Waits after the
        answer (a stream's later rounds) are not part of the overhead anyway and are not counted."""
        began = time.monotonic()
        try:
            yield
        finally:
            if self._trail.answered_at is None:
                self._trail.outside_seconds += time.monotonic() - began

    @property
    def overhead_seconds(self) -> float | None:
        """What the gateway itself added until the answer: `answered_at - started`, less the time waiting on
        providers (`upstream_seconds`) and on what plugins declared with `waiting_outside` (None: no answer)."""
        answered = self._trail.answered_at
        if answered is None:
            return None
        return max(0.0, answered - self.started - self._trail.upstream_seconds - self._trail.outside_seconds)

    @property
    def upstream_seconds(self) -> float:
        """Seconds spent waiting on providers: every attempt (retries, their backoff and fallbacks included) until
        its answer, or a stream's opening, plus the calls made with `call_target`."""
        return self._trail.upstream_seconds

    @property
    def answered_at(self) -> float | None:
        """When the engine had the answer: a complete one after gw_transform_response, a stream once it opened
        (None: no answer, or a cache's)."""
        return self._trail.answered_at

    @property
    def first_token_at(self) -> float | None:
        """When a stream's first chunk with content came (None: not a stream, or none came)."""
        return self._trail.first_token_at


def trail(ctx: CallContext) -> CallTrail:
    """The engine's record of the call (engine modules only)."""
    return ctx._trail


def finish_unrecorded(ctx: CallContext) -> None:
    """The call ended: if it recorded no usage, run (once) what plugins asked to run then."""
    record = ctx._trail
    callbacks, record.unrecorded = record.unrecorded, []
    if not record.usage_recorded:
        for callback in callbacks:
            callback()
