"""POST /v1/chat/completions on OpenAI or an OpenAI-compatible server (set `network_config.base_url`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import ClassVar, Literal

from msgspec import UNSET, Struct
from msgspec.structs import replace

from gateway import (
    CallContext,
    ChatCall,
    ChatResult,
    Chunk,
    ConfigStruct,
    NativeBody,
    ProviderKey,
)
from gateway.api import (
    MAX_CACHE_MARKERS,
    OPENAI,
    OPENAI_4O_MINI,
    OPENED,
    BaseProvider,
    Dialect,
    MediaRules,
    ProviderSetup,
    UpstreamModel,
    cache_markers,
    relay_body,
    relayable,
)
from gateway.api import openai as o

from .chat_request import messages_to_chat_request
from .chat_response import chat_completion_to_message
from .errors import error_from_reply
from .listing import openai_models
from .markers import unmarked_fields
from .streaming import StreamRelay

DEFAULT_BASE_URL = "https://api.openai.com"
INCLUDE_USAGE = b'{"include_usage":true}'


class OpenAIOptions(ConfigStruct, frozen=True):
    # OpenAI itself wants max_completion_tokens (reasoning models reject max_tokens); many servers want max_tokens.
    max_tokens_field: Literal["max_completion_tokens", "max_tokens"] = "max_completion_tokens"


class OpenAIProvider(BaseProvider):
    """Also the base of every OpenAI-wire provider (azure, the presets): they override `_chat_url`/`_headers`."""

    kind: ClassVar[str] = "openai"
    dialect: ClassVar[Dialect | None] = "openai"
    options_type: ClassVar[type[Struct]] = OpenAIOptions
    media: ClassVar[MediaRules] = OPENAI  # Chat Completions has no counting endpoint: estimates use these
    request_id_headers: ClassVar[tuple[str, ...]] = ("x-request-id",)
    # Whether the upstream honours a client's `cache_control` markers (OpenRouter does); OpenAI refuses them.
    cache_markers: ClassVar[bool] = False

    def __init__(self, setup: ProviderSetup) -> None:
        super().__init__(setup)
        self._base = (self.network.base_url or DEFAULT_BASE_URL).rstrip("/")
        self._options: OpenAIOptions = setup.options

    async def complete(self, call: ChatCall, key: ProviderKey, ctx: CallContext) -> ChatResult:
        url, body = self._chat_url(call, key), self._body(call, stream=False)
        headers = with_idempotency_key(self._headers(key), call)
        completion, reply = await self.http.call(
            url, body, headers, self.network, errors=error_from_reply, decode=o.COMPLETION_DECODER.decode,
            what="chat.completion",
        )  # fmt: skip
        request_id = next((reply.headers[h] for h in self.request_id_headers if h in reply.headers), None)
        return ChatResult(
            message=chat_completion_to_message(completion, model=call.model),
            native=NativeBody(dialect="openai", body=reply.body),
            headers=(("x-request-id", request_id),) if request_id else (),
        )

    async def stream(self, call: ChatCall, key: ProviderKey, ctx: CallContext) -> AsyncIterator[Chunk]:
        url, body = self._chat_url(call, key), self._body(call, stream=True)
        headers = with_idempotency_key(self._headers(key), call)
        batches = self.http.sse_batches(url, body, headers, self.network, error_from_reply)
        relay = StreamRelay(call)
        async with aclosing(batches):
            async for batch in batches:
                if not batch.raw:
                    yield OPENED
                    continue
                chunk, done, error = relay.chunk_of(batch)
                if chunk.events or chunk.frame:
                    yield chunk
                if error is not None:
                    raise error
                if done:
                    return
        yield relay.end()  # EOF without [DONE]

    def media_rules(self, model: str) -> MediaRules:
        return OPENAI_4O_MINI if "gpt-4o-mini" in model else OPENAI

    async def list_models(self, key: ProviderKey) -> list[UpstreamModel] | None:
        return await openai_models(self.http, self._base + "/v1/models", self._headers(key), self.network)

    def _chat_url(self, call: ChatCall, key: ProviderKey) -> str:
        return self._base + "/v1/chat/completions"

    def _body(self, call: ChatCall, *, stream: bool) -> bytes:
        assert call.target is not None
        # An upstream that honours markers keeps them, unless there are more than it takes (then none is sent)
        keep = self.cache_markers and cache_markers(call.request) <= MAX_CACHE_MARKERS
        if relayable(call, self.dialect):
            fields = unmarked_fields(call.native.body if call.native is not None and not keep else b"")
            if stream:  # usage is how budgets and logs learn the cost of a stream: always ask for it
                fields["stream_options"] = INCLUDE_USAGE
            return relay_body(call, call.target.model, fields or None)
        request = messages_to_chat_request(
            call.request,
            model=call.target.model,
            max_tokens_field=self._options.max_tokens_field,
            stream=stream,
            cache_markers=keep,
        )
        if call.max_tokens_defaulted:  # the client set no cap: let the model's own limit apply
            request = replace(request, max_tokens=UNSET, max_completion_tokens=UNSET)
        return o.ENCODER.encode(request)

    def _headers(self, key: ProviderKey) -> dict[str, str]:
        headers = {"content-type": "application/json", **self.network.extra_headers}
        headers["authorization"] = f"Bearer {key.value}"
        return headers


def with_idempotency_key(headers: dict[str, str], call: ChatCall) -> dict[str, str]:
    if call.idempotency_key:
        headers["idempotency-key"] = call.idempotency_key
    return headers
