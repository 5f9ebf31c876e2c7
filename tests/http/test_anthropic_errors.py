"""Errors towards Anthropic clients: upstream statuses mapped to SDK classes, retries, and request validation.

api-spec section 8 cases 24-29. Every error must come back as
`{"type":"error","error":{"type","message"},"request_id"}` with a `request-id` header.
"""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2
import pytest

from gateway.testing import FakeUpstream, Reply, anthropic_message, assert_anthropic_error, openai_completion, post_once
from tests.conftest import Gateway
from tests.http.anthropic_helpers import CHAT, CLAUDE, GPT, GW_MESSAGES, HI, MESSAGES

# 401/402/403 from an upstream refuse the key, not the client: see tests/http/test_resilience.py (502).
STATUS_MATRIX = [
    (404, "not_found_error", anthropic.NotFoundError),
    (429, "rate_limit_error", anthropic.RateLimitError),
    (500, "api_error", anthropic.InternalServerError),
    (503, "api_error", anthropic.ServiceUnavailableError),
    (529, "overloaded_error", anthropic.OverloadedError),
]
OPENAI_KIND = {
    401: "invalid_api_key",
    403: "permission_denied",
    404: "model_not_found",
    429: "rate_limit_exceeded",
    500: "server_error",
    503: "service_unavailable",
    529: "overloaded",
}
VALID: dict[str, Any] = {"model": CLAUDE, "max_tokens": 16, "messages": HI}


def upstream_error(model: str, status: int, kind: str, headers: dict[str, str] | None = None) -> tuple[str, Reply]:
    """The path the model's upstream is called on, and that upstream's error reply."""
    if model == GPT:
        return CHAT, Reply.error(
            status,
            OPENAI_KIND.get(status, "invalid_request_error"),
            "upstream says no",
            dialect="openai",
            headers=headers,
        )
    return MESSAGES, Reply.error(status, kind, "upstream says no", dialect="anthropic", headers=headers)


@pytest.mark.parametrize("model", [CLAUDE, GPT])
async def test_error_400_maps_to_bad_request(gateway: Gateway, fake_upstream: FakeUpstream, model: str) -> None:
    path, reply = upstream_error(model, 400, "invalid_request_error")
    fake_upstream.script(path, reply)
    async with gateway.anthropic() as client:
        with pytest.raises(anthropic.BadRequestError) as info:
            await client.messages.create(model=model, max_tokens=16, messages=HI)
    err = info.value
    assert err.status_code == 400
    assert err.body["type"] == "error"  # type: ignore[index]
    assert err.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert "upstream says no" in err.body["error"]["message"]  # type: ignore[index]
    assert err.request_id and err.body["request_id"]  # type: ignore[index]
    assert len(fake_upstream.requests_to(path)) == 1


@pytest.mark.parametrize("model", [CLAUDE, GPT])
@pytest.mark.parametrize(("status", "kind", "cls"), STATUS_MATRIX, ids=[str(s[0]) for s in STATUS_MATRIX])
async def test_error_status_matrix(
    gateway: Gateway, fake_upstream: FakeUpstream, model: str, status: int, kind: str, cls: type[Exception]
) -> None:
    path, reply = upstream_error(model, status, kind)
    fake_upstream.script(path, reply)
    async with gateway.anthropic() as client:
        with pytest.raises(cls) as info:
            await client.messages.create(model=model, max_tokens=16, messages=HI)
    err = info.value
    assert isinstance(err, anthropic.APIStatusError)
    assert type(err) is cls
    assert err.status_code == status
    assert err.request_id
    assert err.body["type"] == "error"  # type: ignore[index]
    assert err.body["error"]["type"] == kind  # type: ignore[index]
    assert isinstance(err.body["error"]["message"], str)  # type: ignore[index]
    assert len(fake_upstream.requests_to(path)) == 1  # max_retries=0: exactly one attempt


@pytest.mark.parametrize("model", [CLAUDE, GPT])
async def test_error_before_stream_is_http_status(gateway: Gateway, fake_upstream: FakeUpstream, model: str) -> None:
    path, reply = upstream_error(model, 529, "overloaded_error")
    fake_upstream.script(path, reply)
    async with gateway.anthropic() as client:
        with pytest.raises(anthropic.OverloadedError) as info:
            async with client.messages.stream(model=model, max_tokens=16, messages=HI) as stream:
                await stream.get_final_message()
    assert info.value.status_code == 529


async def test_retry_on_529_succeeds(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fast = {"retry-after-ms": "1"}
    fake_upstream.script(
        MESSAGES,
        Reply.error(529, "overloaded_error", "Overloaded", dialect="anthropic", headers=fast),
        Reply.error(529, "overloaded_error", "Overloaded", dialect="anthropic", headers=fast),
        Reply.json(anthropic_message("third time lucky")),
    )
    retry_counts: list[str] = []

    async def record(request: httpx2.Request) -> None:
        retry_counts.append(request.headers.get("x-stainless-retry-count", ""))

    http_client = anthropic.DefaultAsyncHttpxClient(event_hooks={"request": [record]})
    async with gateway.anthropic(max_retries=2, http_client=http_client) as client:
        message = await client.messages.create(model=CLAUDE, max_tokens=16, messages=HI)
    assert message.content[0].text == "third time lucky"  # type: ignore[union-attr]
    assert retry_counts == ["0", "1", "2"]
    assert len(fake_upstream.requests_to(MESSAGES)) == 3


async def test_retry_after_relayed_and_honoured(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(
        CHAT,
        Reply.error(429, "rate_limit_exceeded", "slow down", dialect="openai", headers={"retry-after": "1"}),
        Reply.json(openai_completion("after the wait")),
    )
    statuses: list[tuple[int, str | None]] = []

    async def record(response: httpx2.Response) -> None:
        statuses.append((response.status_code, response.headers.get("retry-after")))

    http_client = anthropic.DefaultAsyncHttpxClient(event_hooks={"response": [record]})
    async with gateway.anthropic(max_retries=1, http_client=http_client) as client:
        message = await client.messages.create(model=GPT, max_tokens=16, messages=HI)
    assert message.content[0].text == "after the wait"  # type: ignore[union-attr]
    assert statuses == [(429, "1"), (200, None)]


async def test_retry_after_header_reaches_client(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(
        MESSAGES, Reply.error(429, "rate_limit_error", "slow down", dialect="anthropic", headers={"retry-after": "7"})
    )
    async with gateway.anthropic() as client:
        with pytest.raises(anthropic.RateLimitError) as info:
            await client.messages.create(model=CLAUDE, max_tokens=16, messages=HI)
    assert info.value.response.headers["retry-after"] == "7"
    assert info.value.response.headers["request-id"] == info.value.request_id


async def test_validation_missing_max_tokens(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    reply = await post_once(gateway.url + GW_MESSAGES, {"model": CLAUDE, "messages": HI})
    assert_anthropic_error(reply, 400, "invalid_request_error", "max_tokens")
    assert fake_upstream.requests == []


async def test_validation_missing_max_tokens_openai_route_target(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    reply = await post_once(gateway.url + GW_MESSAGES, {"model": GPT, "messages": HI, "stream": True})
    assert_anthropic_error(reply, 400, "invalid_request_error")
    assert fake_upstream.requests == []


async def test_validation_bad_json(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    reply = await post_once(gateway.url + GW_MESSAGES, b'{"model": "claude-x", "max_tokens": 16, "messages": [')
    assert_anthropic_error(reply, 400, "invalid_request_error")
    assert fake_upstream.requests == []


async def test_validation_wrong_type_field(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    reply = await post_once(gateway.url + GW_MESSAGES, {"model": CLAUDE, "max_tokens": "many", "messages": HI})
    assert_anthropic_error(reply, 400, "invalid_request_error", "max_tokens")
    assert fake_upstream.requests == []


async def test_validation_wrong_content_type(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    reply = await post_once(gateway.url + GW_MESSAGES, b"model=claude-x&max_tokens=16", {"Content-Type": "text/plain"})
    assert_anthropic_error(reply, 400, "invalid_request_error")
    assert fake_upstream.requests == []


async def test_validation_empty_body(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    reply = await post_once(gateway.url + GW_MESSAGES, b"")
    assert_anthropic_error(reply, 400, "invalid_request_error")
    assert fake_upstream.requests == []


async def test_validation_deeply_nested_json(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    reply = await post_once(gateway.url + GW_MESSAGES, b"[" * 5000 + b"]" * 5000)
    assert_anthropic_error(reply, 400, "invalid_request_error")


async def test_validation_deeply_nested_inside_valid_request(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    nested = b"[" * 5000 + b"]" * 5000
    body = b'{"model": "openai/gpt-x", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}], "metadata": '
    reply = await post_once(gateway.url + GW_MESSAGES, body + nested + b"}")
    assert reply.status == 400, reply.body
    assert reply.json()["type"] == "error"


async def test_validation_empty_messages(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    reply = await post_once(gateway.url + GW_MESSAGES, {"model": CLAUDE, "max_tokens": 16, "messages": []})
    assert_anthropic_error(reply, 400, "invalid_request_error")
    assert fake_upstream.requests == []


async def test_upstream_unreachable_is_anthropic_error(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(MESSAGES, Reply.drop())
    async with gateway.anthropic() as client:
        with pytest.raises(anthropic.APIStatusError) as info:
            await client.messages.create(model=CLAUDE, max_tokens=16, messages=HI)
    assert info.value.status_code >= 500
    assert info.value.body["type"] == "error"  # type: ignore[index]
    assert info.value.request_id


async def test_upstream_invalid_json_is_not_relayed_as_200(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(CHAT, Reply.raw(b"<html>bad gateway</html>", content_type="text/html"))
    async with gateway.anthropic() as client:
        with pytest.raises(anthropic.APIStatusError) as info:
            await client.messages.create(model=GPT, max_tokens=16, messages=HI)
    assert info.value.status_code >= 500
    assert info.value.body["type"] == "error"  # type: ignore[index]


async def test_stream_error_status_is_anthropic_shape(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(MESSAGES, Reply.error(404, "not_found_error", "no such model", dialect="anthropic"))
    reply = await post_once(gateway.url + GW_MESSAGES, {**VALID, "stream": True})
    assert assert_anthropic_error(reply, 404, "not_found_error") == "no such model"
    assert b"event:" not in reply.body  # the stream was never opened
