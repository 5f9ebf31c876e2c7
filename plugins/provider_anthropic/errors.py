"""Anthropic error answers as typed errors that keep the upstream's status and type."""

from __future__ import annotations

import msgspec
from multidict import CIMultiDictProxy

from gateway import UpstreamError
from gateway.api import anthropic as a
from gateway.api import kind_for_status, retry_after_seconds

RETRYABLE = frozenset({408, 409, 429})


def error_from_reply(status: int, headers: CIMultiDictProxy[str], body: bytes) -> UpstreamError:
    try:
        error = a.ERROR_DECODER.decode(body).error
        kind, message = error.type, error.message
    except (msgspec.DecodeError, RecursionError):
        kind, message = (
            kind_for_status(status),
            body[:200].decode(errors="replace") or f"upstream status {status}",
        )
    return UpstreamError(
        message,
        status=status,
        kind=kind,
        retryable=status in RETRYABLE or status >= 500,
        retry_after=retry_after_seconds(headers),
    )
