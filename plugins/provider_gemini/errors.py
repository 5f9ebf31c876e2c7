"""Google error answers (`{"error": {"code", "message", "status", "details"}}`) as typed errors.

The upstream's status is kept, with two readings of Google's details: a RetryInfo `retryDelay` is the
retry-after when no header gives one, and a 400 whose ErrorInfo says the API key is invalid is a 401, so the
gateway moves on to the provider's next key instead of blaming the client's request.
"""

from __future__ import annotations

import msgspec
from multidict import CIMultiDictProxy

from gateway import UpstreamError
from gateway.api import kind_for_status, retry_after_seconds

from . import wire as g

RETRYABLE = frozenset({408, 409, 429})
KEY_REJECTED = frozenset({"API_KEY_INVALID"})


def error_from_reply(status: int, headers: CIMultiDictProxy[str], body: bytes) -> UpstreamError:
    error = _decode(body)
    if error is None:
        message = body[:200].decode(errors="replace").strip() or f"upstream status {status}"
        return _typed(status, message, retry_after_seconds(headers))
    retry_after = retry_after_seconds(headers)
    return from_status(error, status, retry_after if retry_after is not None else _retry_delay(error))


def error_from_status(error: g.ErrorStatus) -> UpstreamError:
    """An error object inside a 200 answer (a stream's error chunk)."""
    status = error.code if 400 <= error.code <= 599 else 500
    return from_status(error, status, _retry_delay(error))


def from_status(error: g.ErrorStatus, status: int, retry_after: float | None) -> UpstreamError:
    if status == 400 and any(detail.reason in KEY_REJECTED for detail in error.details):
        status = 401
    message = error.message or error.status or f"upstream status {status}"
    return _typed(status, message, retry_after)


def _typed(status: int, message: str, retry_after: float | None) -> UpstreamError:
    return UpstreamError(
        message,
        status=status,
        kind=kind_for_status(status),
        retryable=status in RETRYABLE or status >= 500,
        retry_after=retry_after,
    )


def _decode(body: bytes) -> g.ErrorStatus | None:
    try:
        decoded = g.ERROR_DECODER.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return None
    if isinstance(decoded, list):
        return decoded[0].error if decoded else None
    return decoded.error


def _retry_delay(error: g.ErrorStatus) -> float | None:
    """RetryInfo's retryDelay, a protobuf Duration in JSON ("37s", "0.5s")."""
    for detail in error.details:
        delay = detail.retry_delay
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return max(float(delay[:-1]), 0.0)
            except ValueError:
                continue
    return None
