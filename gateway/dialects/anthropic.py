"""The Anthropic Messages dialect: requests decode straight into the canonical call (they are its semantics)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from msgspec import UNSET, UnsetType
from msgspec.structs import replace

from ..call import ChatCall, ChatResult, Chunk, Dialect, NativeBody
from ..errors import GatewayError, InvalidRequest
from ..routing import check_model_name
from ..schemas import anthropic as a
from .base import decode_json
from .output import anthropic_output

if TYPE_CHECKING:
    from multidict import CIMultiDictProxy

    from ..config import Settings

# Client headers that mean something to an Anthropic upstream (the client's key is never among them).
FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta")
_ENCODER = a.ENCODER


class AnthropicDialect:
    name: Dialect = "anthropic"
    request_id_header = "request-id"

    def decode_call(self, body: bytes, headers: CIMultiDictProxy[str], settings: Settings) -> ChatCall:
        request = decode_json(a.REQUEST_DECODER.decode, body)
        check_model_name(request.model)
        if isinstance(request.max_tokens, UnsetType):
            raise InvalidRequest("max_tokens: Field required", param="max_tokens")
        if request.max_tokens < 0:
            raise InvalidRequest("max_tokens: must be greater than or equal to 0", param="max_tokens")
        if not request.messages:
            raise InvalidRequest("messages: at least one message is required", param="messages")
        if isinstance(request.tools, list):
            _check_tool_names(request.tools)
        output = anthropic_output(request)
        fallbacks: tuple[str, ...] | None = None
        if not isinstance(request.fallbacks, UnsetType):
            fallbacks, request = tuple(request.fallbacks), replace(request, fallbacks=UNSET)
        return ChatCall(
            dialect="anthropic",
            stream=request.stream is True,
            request=request,
            native=NativeBody(dialect="anthropic", body=body),
            extra_headers=forwarded_headers(headers),
            fallbacks=fallbacks,
            output=output,
        )

    def encode_result(self, call: ChatCall, result: ChatResult) -> bytes:
        if result.native is not None and result.native.dialect == "anthropic":
            return result.native.body
        return _ENCODER.encode(result.message)

    def stream_encoder(self, call: ChatCall) -> AnthropicStreamEncoder:
        return AnthropicStreamEncoder()

    def error_status(self, exc: GatewayError) -> int:
        return exc.status

    def error_body(self, exc: GatewayError, request_id: str) -> bytes:
        error = a.ErrorResponse(error=a.ErrorBody(type=exc.kind, message=exc.message), request_id=request_id)
        return _ENCODER.encode(error)

    def pending_body(self, job_id: str, model: str, created_at: float) -> bytes:
        return _ENCODER.encode(a.Message(id=job_id, model=model, content=[], stop_reason=None))


class AnthropicStreamEncoder:
    """Relays an Anthropic upstream's frames as they came; encodes events from any other provider."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def encode(self, chunk: Chunk) -> bytes:
        if chunk.frame is not None and chunk.frame_dialect == "anthropic":
            return chunk.frame
        out = b""
        for event in chunk.events:
            out += self.frame(event)
        return out

    def frame(self, event: a.StreamEvent) -> bytes:
        buffer = self._buffer
        buffer.clear()
        buffer += b"event: "
        buffer += EVENT_NAMES[type(event)]
        buffer += b"\ndata: "
        _ENCODER.encode_into(event, buffer, len(buffer))
        buffer += b"\n\n"
        return bytes(buffer)

    def error(self, exc: GatewayError) -> bytes:
        return self.frame(a.StreamError(error=a.ErrorBody(type=exc.kind, message=exc.message)))


def _check_tool_names(tools: list[a.Tool]) -> None:
    """Every tool has a name but an `mcp_toolset` (it names its server): the Struct cannot say so, as one Tool
    Struct decodes both."""
    for index, tool in enumerate(tools):
        if not tool.name and tool.type != "mcp_toolset":
            raise InvalidRequest(f"tools[{index}].name: Field required", param=f"tools[{index}].name")


def forwarded_headers(headers: CIMultiDictProxy[str]) -> tuple[tuple[str, str], ...]:
    return tuple((name, headers[name]) for name in FORWARDED_HEADERS if name in headers)


EVENT_NAMES: dict[type, bytes] = {
    a.MessageStart: b"message_start",
    a.ContentBlockStart: b"content_block_start",
    a.ContentBlockDelta: b"content_block_delta",
    a.ContentBlockStop: b"content_block_stop",
    a.MessageDelta: b"message_delta",
    a.MessageStop: b"message_stop",
    a.Ping: b"ping",
    a.StreamError: b"error",
}
