"""What every client dialect provides, and the JSON decoding errors they share."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypeVar

import msgspec

from ..errors import GatewayError, InvalidRequest, split_validation_message
from .depth import too_deep_at

if TYPE_CHECKING:
    from multidict import CIMultiDictProxy

    from ..call import ChatCall, ChatResult, Chunk, Dialect
    from ..config import Settings

T = TypeVar("T")
# A body too deep to decode is refused naming where it passed this depth: deep enough that no real request
# reaches it (Claude Code's deepest tool schemas are under 20), shallow enough to point at the start of the chain.
MAX_NAMED_DEPTH = 128


class StreamEncoder(Protocol):
    def encode(self, chunk: Chunk) -> bytes:
        """The bytes to send the client for one chunk (maybe none)."""
        ...

    def error(self, exc: GatewayError) -> bytes:
        """The terminal error event, after which nothing more is sent."""
        ...


class ClientDialect(Protocol):
    name: Dialect
    request_id_header: str

    def decode_call(self, body: bytes, headers: CIMultiDictProxy[str], settings: Settings) -> ChatCall: ...

    def encode_result(self, call: ChatCall, result: ChatResult) -> bytes: ...

    def stream_encoder(self, call: ChatCall) -> StreamEncoder: ...

    def error_status(self, exc: GatewayError) -> int: ...

    def error_body(self, exc: GatewayError, request_id: str) -> bytes: ...

    def pending_body(self, job_id: str, model: str, created_at: float) -> bytes:
        """The route's answer shape for an async job without a result yet: its id, and no content."""
        ...


def decode_json(decode: Callable[[bytes], T], body: bytes) -> T:
    """Decode a request body; every failure is a 400 naming the offending path, never a 500."""
    if not body.strip():
        raise InvalidRequest("request body is empty; expected a JSON object")
    try:
        return decode(body)
    except msgspec.ValidationError as exc:
        split = split_validation_message(str(exc))
        if split is None:
            raise InvalidRequest(f"invalid request body: {exc}") from None
        path, text = split[0].removeprefix("."), split[1]
        raise InvalidRequest(f"{path}: {text}", param=path or None) from None
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}") from None
    except RecursionError:
        found = too_deep_at(body, MAX_NAMED_DEPTH)
        if found is None:
            raise InvalidRequest("request body is nested too deeply") from None
        path = found[0]
        raise InvalidRequest(
            f"{path}: nested more than {MAX_NAMED_DEPTH} levels deep", param=path.removesuffix("...")
        ) from None
