"""Bedrock HTTP error answers as typed errors, and `bedrock_key_config` validation with JSON paths."""

from __future__ import annotations

from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.config import ConfigError, parse_settings
from gateway_plugins.provider_bedrock.config import key_configs
from gateway_plugins.provider_bedrock.errors import error_from_reply

CORAL = ":http://internal.amazon.com/coral/com.amazon.bedrock/"


def _headers(**values: str) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict({k.replace("_", "-"): v for k, v in values.items()}))


@pytest.mark.parametrize(
    ("status", "error_type", "kind", "retryable"),
    [
        (400, "ValidationException", "invalid_request_error", False),
        (403, "AccessDeniedException", "permission_error", False),
        (404, "ResourceNotFoundException", "not_found_error", False),
        (408, "ModelTimeoutException", "invalid_request_error", True),
        (424, "ModelErrorException", "invalid_request_error", False),
        (429, "ThrottlingException", "rate_limit_error", True),
        (429, "ModelNotReadyException", "rate_limit_error", True),
        (500, "InternalServerException", "api_error", True),
        (503, "ServiceUnavailableException", "api_error", True),
    ],
)
def test_http_errors_keep_status_and_name_their_type(status: int, error_type: str, kind: str, retryable: bool) -> None:
    error = error_from_reply(status, _headers(x_amzn_ErrorType=error_type + CORAL), b'{"message":"went wrong"}')
    assert (error.status, error.kind, error.retryable) == (status, kind, retryable)
    assert error.message == f"{error_type}: went wrong"


def test_throttling_is_a_429_whatever_the_status() -> None:
    error = error_from_reply(400, _headers(x_amzn_errortype="ThrottlingException"), b'{"message":"slow down"}')
    assert (error.status, error.kind, error.retryable) == (429, "rate_limit_error", True)


def test_retry_after_is_honoured() -> None:
    error = error_from_reply(429, _headers(retry_after="3"), b'{"message":"slow down"}')
    assert error.retry_after == 3.0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"Message":"capitalised"}', "capitalised"),
        (b"<html>Bad Gateway</html>", "<html>Bad Gateway</html>"),
        (b"", "upstream status 502"),
        (b'{"other":1}', "upstream status 502"),
    ],
)
def test_error_messages_from_odd_bodies(body: bytes, message: str) -> None:
    error = error_from_reply(502, _headers(), body)
    assert error.message == message
    assert error.retryable


def _keys(*key_configs_: Any) -> list[dict[str, Any]]:
    return [{"name": f"k{i}", "bedrock_key_config": c} for i, c in enumerate(key_configs_)]


def _errors(keys: list[dict[str, Any]]) -> list[str]:
    settings = parse_settings({"providers": {"aws": {"keys": keys}}})
    with pytest.raises(ConfigError) as info:
        key_configs("aws", settings.providers["aws"])
    return info.value.errors


def test_key_config_errors_name_their_paths_all_at_once() -> None:
    errors = _errors(
        [
            {"name": "missing"},
            *_keys(
                {"region": "us-east-1", "access_key": "AK"},
                {"region": "Mars", "access_key": "AK", "secret_key": "s"},
                {"region": "us-east-1", "access_key": "", "secret_key": "s", "sesion_token": "t"},
            ),
        ]
    )
    paths = sorted(line.split(":", 1)[0] for line in errors)
    assert paths == [
        "$.providers.aws.keys[0]",
        "$.providers.aws.keys[1].bedrock_key_config",
        "$.providers.aws.keys[2].bedrock_key_config.region",
        "$.providers.aws.keys[3].bedrock_key_config.access_key",
        "$.providers.aws.keys[3].bedrock_key_config.sesion_token",
    ]
    assert any("missing required key 'secret_key'" in line for line in errors)
    assert any("unknown key" in line and "session_token" in line for line in errors)
    assert (
        "$.providers.aws.keys[2].bedrock_key_config.region: 'Mars' is not an AWS region name (like us-east-1)" in errors
    )


def test_valid_key_configs_by_key_identity() -> None:
    config = {"region": "us-gov-west-1", "access_key": "AK", "secret_key": "s", "session_token": "t"}
    settings = parse_settings({"providers": {"aws": {"keys": _keys(config)}}})
    provider = settings.providers["aws"]
    [(key_id, parsed)] = key_configs("aws", provider).items()
    assert key_id == id(provider.keys[0])
    assert (parsed.region, parsed.access_key, parsed.session_token) == ("us-gov-west-1", "AK", "t")
