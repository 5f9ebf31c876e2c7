"""OpenAI error answers as typed errors that keep the upstream's status (types are mapped by status)."""

from __future__ import annotations

import msgspec
from multidict import CIMultiDictProxy

from gateway import UpstreamError
from gateway.api import kind_for_status, retry_after_seconds

RETRYABLE = frozenset({408, 409, 429})
_ANY = msgspec.json.Decoder()


def error_from_reply(status: int, headers: CIMultiDictProxy[str], body: bytes) -> UpstreamError:
    return UpstreamError(
        error_message(body) or f"upstream status {status}",
        status=status,
        kind=kind_for_status(status),
        retryable=status in RETRYABLE or status >= 500,
        retry_after=retry_after_seconds(headers),
    )


def error_message(body: bytes) -> str:
    """The message of `{"error": {"message": ...}}`, `{"error": "..."}` or a plain-text body."""
    try:
        error = _ANY.decode(body).get("error")
    except (msgspec.DecodeError, RecursionError, AttributeError):
        return body[:200].decode(errors="replace").strip()
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error or "")
