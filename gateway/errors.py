"""Typed errors, raised anywhere and mapped to the client's dialect in one middleware.

Each class carries an HTTP status and a dialect-neutral ``kind``; the dialect modules turn a kind into their
own error ``type`` (Anthropic) or ``type``/``code`` (OpenAI). No aiohttp import here: plugins raise these.
"""

from __future__ import annotations

import re
from typing import ClassVar


class GatewayError(Exception):
    """Base of every error the gateway answers with."""

    status: ClassVar[int] = 500
    kind: ClassVar[str] = "api_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        retry_after: float | None = None,
        status: int | None = None,
        kind: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.retry_after = retry_after
        # Instances may override the class defaults: an upstream error keeps the upstream's status and type.
        if status is not None:
            self.status = status  # type: ignore[misc]
        if kind is not None:
            self.kind = kind  # type: ignore[misc]


class InvalidRequest(GatewayError):
    status = 400
    kind = "invalid_request_error"


class AuthenticationFailed(GatewayError):
    status = 401
    kind = "authentication_error"


class PaymentRequired(GatewayError):
    status = 402
    kind = "billing_error"


class PermissionDenied(GatewayError):
    status = 403
    kind = "permission_error"


class NotFound(GatewayError):
    status = 404
    kind = "not_found_error"


class RequestTimeout(GatewayError):
    status = 408
    kind = "timeout_error"


class RequestTooLarge(GatewayError):
    status = 413
    kind = "request_too_large"


class UnsupportedMediaType(GatewayError):
    status = 415
    kind = "invalid_request_error"


class RateLimited(GatewayError):
    status = 429
    kind = "rate_limit_error"


class UpstreamError(GatewayError):
    """An upstream answered with an error (status and kind are the upstream's) or could not be reached."""

    status = 502
    kind = "api_error"

    def __init__(self, message: str, *, retryable: bool = False, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retryable = retryable


class UpstreamTimeout(UpstreamError):
    status = 504
    kind = "timeout_error"


class Overloaded(GatewayError):
    status = 529
    kind = "overloaded_error"


def kind_for_status(status: int) -> str:
    """The Anthropic error type the API uses for an HTTP status (also our neutral kind)."""
    return _KIND_BY_STATUS.get(status, "api_error" if status >= 500 else "invalid_request_error")


_KIND_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


_AT_PATH = re.compile(r" - at `\$(?P<rest>[^`]*)`$")


def split_validation_message(message: str) -> tuple[str, str] | None:
    """msgspec's "Expected `str`, got `int` - at `$.keys[0]`" -> (".keys[0]", "Expected `str`, got `int`")."""
    match = _AT_PATH.search(message)
    if match is None:
        return None
    return match.group("rest"), message[: match.start()]
