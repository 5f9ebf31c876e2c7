"""Bedrock error answers and stream exceptions as typed errors that keep the upstream's status.

An HTTP error names its type in the `x-amzn-errortype` header (`ThrottlingException:http://internal...`) and its
message in a `{"message": ...}` body; a stream exception names it in `:exception-type` (`throttlingException`).
"""

from __future__ import annotations

import msgspec
from multidict import CIMultiDictProxy

from gateway import UpstreamError
from gateway.api import kind_for_status, retry_after_seconds

from .wire import ERROR_DECODER

ERROR_TYPE_HEADER = "x-amzn-errortype"
# HTTP status of each Bedrock runtime exception (botocore's service model), for stream exceptions that have none.
STATUS_BY_TYPE = {
    "ValidationException": 400,
    "ServiceQuotaExceededException": 400,
    "AccessDeniedException": 403,
    "UnrecognizedClientException": 403,
    "ResourceNotFoundException": 404,
    "ModelTimeoutException": 408,
    "ThrottlingException": 429,
    "ModelNotReadyException": 429,
    "ModelErrorException": 424,
    "ModelStreamErrorException": 424,
    "InternalServerException": 500,
    "ServiceUnavailableException": 503,
}
RETRYABLE = frozenset({408, 429})


def error_from_reply(status: int, headers: CIMultiDictProxy[str], body: bytes) -> UpstreamError:
    error_type = headers.get(ERROR_TYPE_HEADER, "").split(":", 1)[0].strip()
    if error_type == "ThrottlingException":
        status = 429  # whatever a proxy in between answered, this is a rate limit
    return _error(status, error_type, error_message(body) or f"upstream status {status}", retry_after_seconds(headers))


def error_from_exception(exception_type: str, payload: bytes) -> UpstreamError:
    """An `exception` message of the event stream (`throttlingException`, `modelStreamErrorException`, ...)."""
    error_type = exception_type[:1].upper() + exception_type[1:]
    status = STATUS_BY_TYPE.get(error_type, 500)
    return _error(status, error_type, error_message(payload) or "upstream stream failed", None)


def _error(status: int, error_type: str, message: str, retry_after: float | None) -> UpstreamError:
    return UpstreamError(
        f"{error_type}: {message}" if error_type else message,
        status=status,
        kind=kind_for_status(status),
        retryable=status in RETRYABLE or status >= 500,
        retry_after=retry_after,
    )


def error_message(body: bytes) -> str:
    """The message of `{"message": ...}` (or `Message`), else the start of a non-JSON body."""
    try:
        payload = ERROR_DECODER.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return body[:200].decode(errors="replace").strip()
    return payload.message or payload.message_upper or ""
