"""Errors toward OpenAI clients: upstream statuses, mid-stream failures and invalid requests, in OpenAI's shape."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from gateway.testing import FakeUpstream, Reply, anthropic_error_frame, anthropic_sse, openai_error_of
from tests.conftest import Gateway
from tests.http.openai_helpers import USER_HI, post_openai

MESSAGES = "/v1/messages"
CHAT = "/v1/chat/completions"
MODEL = "anthropic/claude-x"

STATUS_MATRIX = [
    (400, "invalid_request_error", openai.BadRequestError, 400),
    (404, "not_found_error", openai.NotFoundError, 404),
    (429, "rate_limit_error", openai.RateLimitError, 429),
    (500, "api_error", openai.InternalServerError, 500),
    (529, "overloaded_error", openai.InternalServerError, 503),
]


@pytest.mark.parametrize(("status", "kind", "exc_class", "client_status"), STATUS_MATRIX)
async def test_error_anthropic_status_maps_to_sdk_class(
    gateway: Gateway,
    fake_upstream: FakeUpstream,
    status: int,
    kind: str,
    exc_class: type[openai.APIStatusError],
    client_status: int,
) -> None:
    fake_upstream.script(MESSAGES, Reply.error(status, kind, f"upstream says {status}", dialect="anthropic"))
    async with gateway.openai() as client:
        with pytest.raises(exc_class) as caught:
            await client.chat.completions.create(model=MODEL, messages=USER_HI)
    error = caught.value
    assert error.status_code == client_status
    assert error.request_id
    assert error.response.headers["x-request-id"] == error.request_id
    assert isinstance(error.body, dict)
    assert set(error.body) >= {"message", "type", "param", "code"}
    assert error.body["message"] == f"upstream says {status}"
    assert len(fake_upstream.requests_to(MESSAGES)) == 1


@pytest.mark.parametrize(("status", "kind", "exc_class", "client_status"), STATUS_MATRIX)
async def test_error_anthropic_status_raw_shape(
    gateway: Gateway,
    fake_upstream: FakeUpstream,
    status: int,
    kind: str,
    exc_class: type[openai.APIStatusError],
    client_status: int,
) -> None:
    fake_upstream.script(MESSAGES, Reply.error(status, kind, "nope", dialect="anthropic"))
    reply = await post_openai(gateway.url + CHAT, {"model": MODEL, "messages": USER_HI})
    assert reply.status == client_status
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.headers["x-request-id"]
    error = openai_error_of(reply)
    assert error["message"] == "nope"
    assert isinstance(error["type"], str) and error["type"]


async def test_error_rate_limit_type_and_code(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(MESSAGES, Reply.error(429, "rate_limit_error", "slow down", dialect="anthropic"))
    async with gateway.openai() as client:
        with pytest.raises(openai.RateLimitError) as caught:
            await client.chat.completions.create(model=MODEL, messages=USER_HI)
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["type"] == "rate_limit_error"
    assert caught.value.code == "rate_limit_exceeded"


async def test_error_stream_status_before_first_byte(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(MESSAGES, Reply.error(529, "overloaded_error", "Overloaded", dialect="anthropic"))
    async with gateway.openai() as client:
        with pytest.raises(openai.InternalServerError) as caught:
            await client.chat.completions.create(model=MODEL, messages=USER_HI, stream=True)
    assert caught.value.status_code == 503
    assert caught.value.request_id


async def test_error_midstream_anthropic_raises_api_error(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    frames = [*anthropic_sse(("Hel", "lo"))[:4], anthropic_error_frame("overloaded_error", "Overloaded now")]
    fake_upstream.script(MESSAGES, Reply.sse(frames))
    seen: list[str] = []
    async with gateway.openai() as client:
        stream = await client.chat.completions.create(model=MODEL, messages=USER_HI, stream=True)
        with pytest.raises(openai.APIError) as caught:
            async for chunk in stream:
                seen.append(chunk.choices[0].delta.content or "")
    assert "".join(seen) == "Hel"
    assert "Overloaded now" in caught.value.message


async def test_error_midstream_dropped_connection_raises(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(MESSAGES, Reply.sse(anthropic_sse(("Hel", "lo")), close_after=4))
    async with gateway.openai() as client:
        stream = await client.chat.completions.create(model=MODEL, messages=USER_HI, stream=True)
        with pytest.raises(openai.APIError):
            async for _chunk in stream:
                pass


async def test_error_midstream_raw_frame_shape(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    frames = [*anthropic_sse(("Hel",))[:3], anthropic_error_frame("api_error", "boom")]
    fake_upstream.script(MESSAGES, Reply.sse(frames))
    reply = await post_openai(gateway.url + CHAT, {"model": MODEL, "messages": USER_HI, "stream": True})
    assert reply.status == 200
    last = reply.events()[-1]
    assert last.data != "[DONE]"
    error = last.json()["error"]
    assert error["message"] == "boom"
    assert "[DONE]" not in [e.data for e in reply.events()]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{not json", id="malformed"),
        pytest.param(b"", id="empty"),
        pytest.param(b"[1, 2]", id="array"),
        pytest.param(b'{"model": "openai/gpt-x", "messages": [{"role": "user", "content": "hi"}]', id="truncated"),
    ],
)
async def test_validation_bad_json_is_400(gateway: Gateway, fake_upstream: FakeUpstream, body: bytes) -> None:
    reply = await post_openai(gateway.url + CHAT, body)
    assert reply.status == 400
    assert reply.headers["x-request-id"]
    assert openai_error_of(reply)["type"] == "invalid_request_error"
    assert fake_upstream.requests == []


@pytest.mark.parametrize(
    ("body", "path"),
    [
        pytest.param({"model": "openai/gpt-x", "messages": "x"}, "messages", id="messages-string"),
        pytest.param({"model": 5, "messages": USER_HI}, "model", id="model-int"),
        pytest.param({"messages": USER_HI}, "model", id="model-missing"),
        pytest.param({"model": "openai/gpt-x"}, "messages", id="messages-missing"),
        pytest.param(
            {"model": "openai/gpt-x", "messages": [{"role": "user", "content": 5}]},
            "messages[0].content",
            id="content-int",
        ),
        pytest.param(
            {"model": "anthropic/claude-x", "messages": [{"content": "hi"}]}, "messages[0]", id="role-missing"
        ),
        pytest.param({"model": "openai/gpt-x", "messages": USER_HI, "stream": "yes"}, "stream", id="stream-string"),
        pytest.param(
            {"model": "anthropic/claude-x", "messages": USER_HI, "tools": [{"type": "function", "function": 3}]},
            "tools[0].function",
            id="tool-function-int",
        ),
    ],
)
async def test_validation_wrong_types_name_the_path(
    gateway: Gateway, fake_upstream: FakeUpstream, body: dict[str, Any], path: str
) -> None:
    reply = await post_openai(gateway.url + CHAT, body)
    assert reply.status == 400, reply.body
    error = openai_error_of(reply)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == path or path in error["message"], error
    assert fake_upstream.requests == []


async def test_validation_wrong_content_type_is_400(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    reply = await post_openai(
        gateway.url + CHAT, b"model=openai/gpt-x", {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert reply.status == 400
    assert openai_error_of(reply)["type"] == "invalid_request_error"
    assert fake_upstream.requests == []


async def test_validation_sdk_sees_bad_request(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    async with gateway.openai() as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(model="openai/gpt-x", messages=USER_HI, extra_body={"messages": "x"})
    assert caught.value.status_code == 400
    assert "messages" in str(caught.value.body)
    assert fake_upstream.requests == []


async def test_error_unknown_route_in_openai_shape(gateway: Gateway) -> None:
    reply = await post_openai(gateway.url + "/v1/chat/complete", {"model": "x"})
    assert reply.status == 404
    assert reply.headers["x-request-id"]
    assert openai_error_of(reply)
