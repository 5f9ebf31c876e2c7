"""A model no provider serves: the 400 names the missing provider (or the bare model) and lists the configured
ones, in the client's dialect, before anything goes upstream."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from anthropic.types import MessageParam

from gateway.testing import FakeUpstream, MakeGateway, assert_anthropic_error, assert_openai_error

HI = [{"role": "user", "content": "hi"}]
HI_TYPED: MessageParam = {"role": "user", "content": "hi"}


def openai_and_mock(url: str) -> dict[str, Any]:
    return {
        "providers": {
            "openai": {"keys": [{"name": "o", "value": "sk-x"}], "network_config": {"base_url": url}},
            "mock": {},
        }
    }


def anthropic_and_mock(url: str) -> dict[str, Any]:
    return {
        "providers": {
            "anthropic": {"keys": [{"name": "a", "value": "sk-ant-x"}], "network_config": {"base_url": url}},
            "mock": {},
        }
    }


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/openai/v1/chat/completions"])
async def test_openai_dialect_names_the_missing_provider(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, path: str
) -> None:
    gw = await make_gateway(anthropic_and_mock(fake_upstream.url))
    async with gw.http() as http:
        answer = await http.post(path, {"model": "openai/gpt-4o", "messages": HI})
    message = assert_openai_error(answer, 400, "invalid_request_error")
    assert message == "no provider named 'openai' is configured (configured: anthropic, mock)"
    assert answer.json()["error"]["param"] == "model"
    assert fake_upstream.requests == []


async def test_anthropic_dialect_names_the_missing_provider(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    gw = await make_gateway(openai_and_mock(fake_upstream.url))
    async with gw.anthropic() as client:
        with pytest.raises(anthropic.BadRequestError) as raised:
            await client.messages.create(model="anthropic/claude-sonnet-4-5", max_tokens=5, messages=[HI_TYPED])
    assert raised.value.status_code == 400
    assert raised.value.body == {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "no provider named 'anthropic' is configured (configured: openai, mock)",
        },
        "request_id": raised.value.request_id,
    }
    assert fake_upstream.requests == []


async def test_bare_model_nobody_serves_lists_providers_and_how_to_name_one(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    """`in-house-7b`: a model no key names and the catalog does not know (a bare `gpt-4o` would go to openai)."""
    gw = await make_gateway(openai_and_mock(fake_upstream.url))
    async with gw.http() as http:
        openai_answer = await http.post("/v1/chat/completions", {"model": "in-house-7b", "messages": HI})
        anthropic_answer = await http.post(
            "/v1/messages", {"model": "mock/x", "max_tokens": 5, "messages": HI, "fallbacks": ["llama-3"]}
        )
    message = assert_openai_error(openai_answer, 400, "invalid_request_error")
    assert message.startswith("no provider serves model 'in-house-7b' (configured: openai, mock); "), message
    assert "'openai/in-house-7b'" in message
    message = assert_anthropic_error(anthropic_answer, 400, "invalid_request_error")
    assert message.startswith("fallbacks[0]: no provider serves model 'llama-3' (configured: openai, mock)"), message
    assert fake_upstream.requests == []


async def test_provider_with_no_model_after_it(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    gw = await make_gateway(anthropic_and_mock(fake_upstream.url))
    async with gw.http() as http:
        answer = await http.post("/v1/chat/completions", {"model": "mock/", "messages": HI})
    assert (
        assert_openai_error(answer, 400, "invalid_request_error") == "model 'mock/' names no model after the provider"
    )
