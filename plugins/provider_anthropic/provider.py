"""POST /v1/messages (and count_tokens) on an Anthropic-compatible upstream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import ClassVar

import msgspec
from msgspec import Struct
from msgspec.structs import replace

from gateway import (
    CallContext,
    ChatCall,
    ChatResult,
    Chunk,
    ConfigStruct,
    NativeBody,
    ProviderKey,
    UpstreamError,
)
from gateway.api import (
    CLAUDE,
    END,
    OPENED,
    BaseProvider,
    Dialect,
    MediaRules,
    ProviderSetup,
    SseBatch,
    SseFrame,
    UpstreamModel,
    relay_body,
    relayable,
)
from gateway.api import anthropic as a

from .errors import error_from_reply
from .listing import anthropic_models

DEFAULT_BASE_URL = "https://api.anthropic.com"
_COUNT = msgspec.json.Decoder(a.CountTokensResponse)


class AnthropicOptions(ConfigStruct, frozen=True):
    version: str = "2023-06-01"  # anthropic-version to send when the client sent none


class AnthropicProvider(BaseProvider):
    kind: ClassVar[str] = "anthropic"
    dialect: ClassVar[Dialect | None] = "anthropic"
    options_type: ClassVar[type[Struct]] = AnthropicOptions
    media: ClassVar[MediaRules] = CLAUDE

    def __init__(self, setup: ProviderSetup) -> None:
        super().__init__(setup)
        self._base = (self.network.base_url or DEFAULT_BASE_URL).rstrip("/")
        self._version: str = setup.options.version

    async def complete(self, call: ChatCall, key: ProviderKey, ctx: CallContext) -> ChatResult:
        url, body = self._base + "/v1/messages", self._body(call, stream=False)
        message, reply = await self.http.call(
            url, body, self._headers(call, key), self.network, errors=error_from_reply,
            decode=a.MESSAGE_DECODER.decode, what="Message",
        )  # fmt: skip
        if message.model != call.model and not relayable(call, self.dialect):
            message = replace(message, model=call.model)
        request_id = reply.headers.get("request-id")
        return ChatResult(
            message=message,
            native=NativeBody(dialect="anthropic", body=reply.body),
            headers=(("request-id", request_id),) if request_id else (),
        )

    async def stream(self, call: ChatCall, key: ProviderKey, ctx: CallContext) -> AsyncIterator[Chunk]:
        url, body = self._base + "/v1/messages", self._body(call, stream=True)
        batches = self.http.sse_batches(url, body, self._headers(call, key), self.network, error_from_reply)
        read = _usage_chunk_of if call.relay_stream else _chunk_of
        finished = False
        async with aclosing(batches):
            async for batch in batches:
                if not batch.raw:
                    yield OPENED
                    continue
                chunk, error = read(batch)
                if chunk.frame:
                    yield chunk
                if error is not None:
                    raise error
                finished = bool(chunk.events) and isinstance(chunk.events[-1], a.MessageStop)
        if not finished:
            raise UpstreamError("upstream stream ended before message_stop")

    async def count_tokens(self, call: ChatCall, key: ProviderKey, ctx: CallContext) -> int:
        url, body = self._base + "/v1/messages/count_tokens", self._body(call, stream=False)
        counted, _ = await self.http.call(
            url, body, self._headers(call, key), self.network, errors=error_from_reply, decode=_COUNT.decode,
            what="count_tokens answer",
        )  # fmt: skip
        return counted.input_tokens

    async def list_models(self, key: ProviderKey) -> list[UpstreamModel]:
        headers = {"anthropic-version": self._version, **self.network.extra_headers, "x-api-key": key.value}
        return await anthropic_models(self.http, self._base, headers, self.network)

    def _body(self, call: ChatCall, *, stream: bool) -> bytes:
        assert call.target is not None
        if relayable(call, self.dialect):
            return relay_body(call, call.target.model)
        request = replace(call.request, model=call.target.model, stream=True if stream else msgspec.UNSET)
        return a.ENCODER.encode(request)

    def _headers(self, call: ChatCall, key: ProviderKey) -> dict[str, str]:
        headers = {"content-type": "application/json", "anthropic-version": self._version}
        if call.dialect == "anthropic":
            headers.update(call.extra_headers)
        headers.update(self.network.extra_headers)
        if call.idempotency_key:
            headers["idempotency-key"] = call.idempotency_key
        headers["x-api-key"] = key.value
        return headers


def _chunk_of(batch: SseBatch) -> tuple[Chunk, UpstreamError | None]:
    """The events of one upstream read with its bytes for relaying, and the error an `error` event carries
    (the chunk then holds what came before it)."""
    events: list[a.StreamEvent] = []
    frames = batch.frames()
    for position, frame in enumerate(frames):
        if frame.event not in a.KNOWN_EVENTS:
            continue  # relayed with the batch's bytes to Anthropic clients, not parsed
        event = _decode_event(frame)
        if isinstance(event, a.StreamError):
            status = 529 if event.error.type == "overloaded_error" else 500
            error = UpstreamError(event.error.message, status=status, kind=event.error.type)
            return _relayed(events, b"".join([f.raw + END for f in frames[:position]])), error
        events.append(event)
    return _relayed(events, batch.raw), None


def _usage_chunk_of(batch: SseBatch) -> tuple[Chunk, UpstreamError | None]:
    """For a pure relay: decode only the events that carry usage, the end or an error; relay the rest unread."""
    if b"event: error\n" in batch.raw or b"event:error\n" in batch.raw:  # SSE allows both; never relay an error
        return _chunk_of(batch)
    events = tuple(
        _decode_event(frame)
        for name in (b"message_start", b"message_delta", b"message_stop")
        if (frame := batch.find_frame(name)) is not None
    )
    return Chunk(events=events, frame=batch.raw, frame_dialect="anthropic"), None


def _relayed(events: list[a.StreamEvent], raw: bytes) -> Chunk:
    return Chunk(events=tuple(events), frame=raw, frame_dialect="anthropic")


def _decode_event(frame: SseFrame) -> a.StreamEvent:
    try:
        event: a.StreamEvent = a.EVENT_DECODER.decode(frame.data)
        return event
    except (msgspec.DecodeError, RecursionError) as exc:
        raise UpstreamError(f"upstream sent an invalid {frame.event} event: {exc}") from None
