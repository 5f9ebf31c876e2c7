"""The OpenAI Chat Completions dialect: requests are translated into the canonical call, answers back."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..call import ChatCall, ChatResult, Chunk, Dialect, NativeBody
from ..errors import GatewayError, InvalidRequest
from ..routing import check_model_name
from ..schemas import anthropic as a
from ..schemas import openai as o
from ..translate.common import OPENAI_ERRORS
from ..translate.request_to_anthropic import chat_request_to_messages
from ..translate.response import message_to_chat_completion
from ..translate.stream_to_openai import ChatChunkEncoder
from .base import decode_json
from .output import openai_output

if TYPE_CHECKING:
    from multidict import CIMultiDictProxy

    from ..config import Settings

_ENCODER = o.ENCODER
_OPENAI_ERRORS = OPENAI_ERRORS


class OpenAIDialect:
    name: Dialect = "openai"
    request_id_header = "x-request-id"

    def decode_call(self, body: bytes, headers: CIMultiDictProxy[str], settings: Settings) -> ChatCall:
        request = decode_json(o.REQUEST_DECODER.decode, body)
        check_model_name(request.model)
        output = openai_output(request.response_format)  # its errors are the client's even on a relay
        default_max_tokens = settings.client.default_max_tokens
        try:
            canonical, error = chat_request_to_messages(request, default_max_tokens=default_max_tokens), None
        except InvalidRequest as exc:
            # Valid OpenAI that Anthropic cannot express (n > 1, audio, ...): an OpenAI provider can still relay it.
            canonical = a.MessagesRequest(model=request.model, messages=[], max_tokens=default_max_tokens)
            error = exc
        options = request.stream_options
        return ChatCall(
            dialect="openai",
            stream=request.stream is True,
            request=canonical,
            native=NativeBody(dialect="openai", body=body),
            include_usage=isinstance(options, o.StreamOptions) and options.include_usage is True,
            translation_error=error,
            max_tokens_defaulted=not isinstance(request.max_completion_tokens, int)
            and not isinstance(request.max_tokens, int),
            fallbacks=tuple(request.fallbacks) if isinstance(request.fallbacks, list) else None,
            output=output,
        )

    def encode_result(self, call: ChatCall, result: ChatResult) -> bytes:
        if result.native is not None and result.native.dialect == "openai":
            return result.native.body
        completion = message_to_chat_completion(result.message, model=call.model, created=int(time.time()))
        return _ENCODER.encode(completion)

    def stream_encoder(self, call: ChatCall) -> OpenAIStreamEncoder:
        return OpenAIStreamEncoder(call)

    def error_status(self, exc: GatewayError) -> int:
        # 529 is Anthropic's; OpenAI clients know 503 (and retry any 5xx either way).
        return 503 if exc.status == 529 else exc.status

    def error_body(self, exc: GatewayError, request_id: str) -> bytes:
        return _ENCODER.encode(o.ErrorResponse(error=error_object(exc)))

    def pending_body(self, job_id: str, model: str, created_at: float) -> bytes:
        return _ENCODER.encode(o.ChatCompletion(id=job_id, created=int(created_at), model=model, choices=[]))


class OpenAIStreamEncoder:
    """Feeds every event to the chunk encoder (its state must follow the stream) but relays an OpenAI
    upstream's own frames when it has them."""

    def __init__(self, call: ChatCall) -> None:
        self._chunks = ChatChunkEncoder(model=call.model, include_usage=call.include_usage, created=int(time.time()))

    def encode(self, chunk: Chunk) -> bytes:
        out = b"".join([self._chunks.feed(event) for event in chunk.events])
        if chunk.frame is not None and chunk.frame_dialect == "openai":
            return chunk.frame
        return out

    def error(self, exc: GatewayError) -> bytes:
        kind, _ = _OPENAI_ERRORS.get(exc.kind, ("server_error", None))
        return self._chunks.error(kind, exc.message)


def error_object(exc: GatewayError) -> o.ErrorObject:
    kind, code = _OPENAI_ERRORS.get(exc.kind, (exc.kind, None))
    return o.ErrorObject(message=exc.message, type=kind, param=exc.param, code=code)
