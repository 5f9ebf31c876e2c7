"""Google's Gemini API (generativelanguage.googleapis.com): generateContent, its SSE stream and countTokens.

Gemini is no client dialect, so every call is translated: canonical request -> GenerateContentRequest
(transform.py), GenerateContentResponse -> canonical Message (response.py), stream chunks -> canonical events
(stream.py). The API key goes in `x-goog-api-key`; the client's own key is never forwarded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import ClassVar
from urllib.parse import quote

import msgspec
from msgspec import UNSET
from msgspec.structs import replace

from gateway import CallContext, ChatCall, ChatResult, Chunk, ConfigStruct, ProviderKey, UpstreamError
from gateway.api import GEMINI, BaseProvider, MediaRules, ProviderSetup, UpstreamModel
from gateway.api import anthropic as a

from . import wire as g
from .errors import error_from_reply
from .listing import gemini_models
from .response import response_to_message
from .stream import GeminiStreamTranslator
from .transform import count_tokens_request, messages_to_gemini, model_resource

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"


class GeminiOptions(ConfigStruct, frozen=True):
    api_version: str = "v1beta"  # the path segment before /models (v1 lacks thinking and some tool fields)


class GeminiProvider(BaseProvider):
    kind: ClassVar[str] = "gemini"
    options_type: ClassVar[type[msgspec.Struct]] = GeminiOptions
    media: ClassVar[MediaRules] = GEMINI  # no client speaks Gemini (dialect None): every call is translated

    def __init__(self, setup: ProviderSetup) -> None:
        super().__init__(setup)
        options: GeminiOptions = setup.options
        self._root = f"{(self.network.base_url or DEFAULT_BASE_URL).rstrip('/')}/{options.api_version.strip('/')}"

    async def complete(self, call: ChatCall, key: ProviderKey, ctx: CallContext) -> ChatResult:
        response, _ = await self.http.call(
            self._url(call, "generateContent"), g.ENCODER.encode(self._request(call)), self._headers(key),
            self.network, errors=error_from_reply, decode=g.RESPONSE_DECODER.decode, what="GenerateContentResponse",
        )  # fmt: skip
        return ChatResult(message=response_to_message(response, model=call.model))

    async def stream(self, call: ChatCall, key: ProviderKey, ctx: CallContext) -> AsyncIterator[Chunk]:
        url = self._url(call, "streamGenerateContent") + "?alt=sse"
        body = g.ENCODER.encode(self._request(call))
        batches = self.http.sse_batches(url, body, self._headers(key), self.network, error_from_reply)
        translator = GeminiStreamTranslator(model=call.model)
        async with aclosing(batches):
            async for batch in batches:
                events: list[a.StreamEvent] = []
                try:
                    for frame in batch.frames():
                        if frame.data:  # comments and keep-alives carry none
                            events += translator.feed(_decode(frame.data))
                except UpstreamError:
                    if events:
                        yield Chunk(events=tuple(events))
                    raise
                if events:
                    yield Chunk(events=tuple(events))
        if not translator.complete:
            raise UpstreamError("upstream stream ended before a finishReason")
        yield Chunk(events=tuple(translator.finish()))

    async def count_tokens(self, call: ChatCall, key: ProviderKey, ctx: CallContext) -> int:
        assert call.target is not None
        request = count_tokens_request(call.request, model=call.target.model)
        counted, _ = await self.http.call(
            self._url(call, "countTokens"), g.ENCODER.encode(request), self._headers(key), self.network,
            errors=error_from_reply, decode=g.COUNT_TOKENS_DECODER.decode, what="countTokens answer",
        )  # fmt: skip
        return counted.total_tokens

    async def list_models(self, key: ProviderKey) -> list[UpstreamModel]:
        headers = {**self.network.extra_headers, "x-goog-api-key": key.value}
        return await gemini_models(self.http, self._root, headers, self.network)

    def _request(self, call: ChatCall) -> g.GenerateContentRequest:
        request = call.request
        if call.max_tokens_defaulted:  # the client set no cap; on Gemini, thoughts count against it too
            request = replace(request, max_tokens=UNSET)
        return messages_to_gemini(request, call.target.model if call.target is not None else "")

    def _url(self, call: ChatCall, method: str) -> str:
        assert call.target is not None
        return f"{self._root}/{quote(model_resource(call.target.model), safe='/')}:{method}"

    def _headers(self, key: ProviderKey) -> dict[str, str]:
        headers = {"content-type": "application/json", **self.network.extra_headers}
        headers["x-goog-api-key"] = key.value
        return headers


def _decode(body: bytes) -> g.GenerateContentResponse:
    try:
        return g.RESPONSE_DECODER.decode(body)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise UpstreamError(f"upstream sent an invalid GenerateContentResponse: {exc}") from None
