"""SigV4 signing: the header shapes, the session token, and (at a frozen time) the exact signature an
independent implementation of the AWS algorithm computes for the same request."""

from __future__ import annotations

import datetime
import re

import pytest

from gateway_plugins.provider_bedrock.config import BedrockKeyConfig
from gateway_plugins.provider_bedrock.signing import signed_headers
from tests.fakes.bedrock import ACCESS_KEY, REGION, SECRET_KEY, expected_authorization

URL = "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-5-sonnet-20240620-v1:0/converse"
PATH = "/model/anthropic.claude-3-5-sonnet-20240620-v1:0/converse"
BODY = b'{"messages":[{"role":"user","content":[{"text":"hi"}]}]}'
KEY = BedrockKeyConfig(region=REGION, access_key=ACCESS_KEY, secret_key=SECRET_KEY)
FROZEN = datetime.datetime(2024, 6, 20, 13, 45, 30)
SHAPE = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<access>[^/]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/bedrock/aws4_request, "
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})"
)


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.auth  # type: ignore[import-untyped]

    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *args, **kwargs: FROZEN)


def _sign(key: BedrockKeyConfig = KEY, url: str = URL, extra: dict[str, str] | None = None) -> dict[str, str]:
    headers: dict[str, str] = signed_headers(url, BODY, {"content-type": "application/json", **(extra or {})}, key)
    return headers


def test_authorization_has_the_sigv4_shape() -> None:
    headers = _sign()
    match = SHAPE.fullmatch(headers["Authorization"])
    assert match is not None, headers["Authorization"]
    assert match["access"] == ACCESS_KEY
    assert match["region"] == REGION
    assert match["signed"] == "content-type;host;x-amz-date"
    assert re.fullmatch(r"\d{8}T\d{6}Z", headers["X-Amz-Date"])
    assert match["date"] == headers["X-Amz-Date"][:8]
    assert "X-Amz-Security-Token" not in headers
    assert headers["content-type"] == "application/json"  # the given headers are kept


def test_session_token_is_sent_and_signed() -> None:
    key = BedrockKeyConfig(region="eu-west-3", access_key="ASIATEMP", secret_key="s", session_token="FwoGZXIvYXdzEJr")
    headers = _sign(key, URL.replace("us-east-1", "eu-west-3"))
    assert headers["X-Amz-Security-Token"] == "FwoGZXIvYXdzEJr"
    match = SHAPE.fullmatch(headers["Authorization"])
    assert match is not None
    assert match["region"] == "eu-west-3"
    assert match["signed"] == "content-type;host;x-amz-date;x-amz-security-token"


def test_every_given_header_is_signed() -> None:
    headers = _sign(extra={"accept": "application/vnd.amazon.eventstream", "x-team": "search"})
    match = SHAPE.fullmatch(headers["Authorization"])
    assert match is not None
    assert match["signed"] == "accept;content-type;host;x-amz-date;x-team"


@pytest.mark.usefixtures("frozen_clock")
def test_signature_matches_an_independent_sigv4_at_a_frozen_time() -> None:
    headers = _sign()
    assert headers["X-Amz-Date"] == "20240620T134530Z"
    sent = {**headers, "host": "bedrock-runtime.us-east-1.amazonaws.com"}
    assert headers["Authorization"] == expected_authorization(PATH, sent, BODY)


@pytest.mark.usefixtures("frozen_clock")
def test_percent_encoded_paths_are_signed_encoded_once_more() -> None:
    """`%2F` in an ARN model id stays encoded on the wire; its canonical form is `%252F` (not S3: no single)."""
    path = "/model/arn:aws:bedrock:us-east-1:123456789012:application-inference-profile%2Fabc/converse"
    headers = _sign(url="https://bedrock-runtime.us-east-1.amazonaws.com" + path)
    sent = {**headers, "host": "bedrock-runtime.us-east-1.amazonaws.com"}
    assert headers["Authorization"] == expected_authorization(path, sent, BODY)


@pytest.mark.usefixtures("frozen_clock")
def test_signature_covers_the_body_and_the_secret() -> None:
    first = _sign()["Authorization"]
    assert signed_headers(URL, BODY + b" ", {"content-type": "application/json"}, KEY)["Authorization"] != first
    other = BedrockKeyConfig(region=REGION, access_key=ACCESS_KEY, secret_key="another")
    assert _sign(other)["Authorization"] != first
    assert _sign()["Authorization"] == first  # deterministic at a fixed time


def test_key_config_repr_hides_the_secret() -> None:
    key = BedrockKeyConfig(region=REGION, access_key=ACCESS_KEY, secret_key=SECRET_KEY, session_token="tok")
    assert SECRET_KEY not in repr(key)
    assert "tok" not in repr(key)
