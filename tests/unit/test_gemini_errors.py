"""Google error bodies -> UpstreamError: status kept, retryability, retry-after, a rejected key as a 401."""

from __future__ import annotations

import json

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from gateway_plugins.provider_gemini import wire as g
from gateway_plugins.provider_gemini.errors import error_from_reply, error_from_status
from tests.fakes.gemini import gemini_error


def headers(**values: str) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict({k.replace("_", "-"): v for k, v in values.items()}))


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (400, "invalid_request_error", False),
        (403, "permission_error", False),
        (404, "not_found_error", False),
        (429, "rate_limit_error", True),
        (500, "api_error", True),
        (503, "api_error", True),
        (504, "timeout_error", True),
    ],
)
def test_status_kind_and_retryable(status: int, kind: str, retryable: bool) -> None:
    body = json.dumps(gemini_error(status, "SOME_STATUS", "what went wrong")).encode()
    error = error_from_reply(status, headers(), body)
    assert (error.status, error.kind, error.retryable, error.message) == (status, kind, retryable, "what went wrong")


def test_retry_after_header_wins_over_retry_info() -> None:
    body = json.dumps(gemini_error(429, "RESOURCE_EXHAUSTED", "quota", retry_delay="37s")).encode()
    assert error_from_reply(429, headers(retry_after="5"), body).retry_after == 5.0
    assert error_from_reply(429, headers(), body).retry_after == 37.0


@pytest.mark.parametrize(("delay", "seconds"), [("0.5s", 0.5), ("12s", 12.0), ("soon", None), ("3m", None)])
def test_retry_info_durations(delay: str, seconds: float | None) -> None:
    body = json.dumps(gemini_error(429, "RESOURCE_EXHAUSTED", "quota", retry_delay=delay)).encode()
    assert error_from_reply(429, headers(), body).retry_after == seconds


def test_invalid_api_key_is_an_authentication_error() -> None:
    body = json.dumps(gemini_error(400, "INVALID_ARGUMENT", "API key not valid.", reason="API_KEY_INVALID")).encode()
    error = error_from_reply(400, headers(), body)
    assert (error.status, error.kind, error.retryable) == (401, "authentication_error", False)


def test_list_wrapped_and_non_json_bodies() -> None:
    wrapped = json.dumps([gemini_error(500, "INTERNAL", "inside a list")]).encode()
    assert error_from_reply(500, headers(), wrapped).message == "inside a list"
    html = error_from_reply(502, headers(), b"<html>Bad Gateway</html>")
    assert (html.status, html.message, html.retryable) == (502, "<html>Bad Gateway</html>", True)
    assert error_from_reply(500, headers(), b"").message == "upstream status 500"


def test_error_chunk_without_a_usable_code_is_a_500() -> None:
    error = error_from_status(g.ErrorStatus(code=0, message="", status="INTERNAL"))
    assert (error.status, error.message, error.retryable) == (500, "INTERNAL", True)
