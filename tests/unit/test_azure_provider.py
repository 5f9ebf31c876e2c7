"""AzureProvider against two fake Azure resources: the URL and headers each call is sent with, per key and model."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, cast

import msgspec
import pytest
from aiohttp import ClientSession

from gateway import CallContext, ChatCall, GatewayError, ProviderKey, Target
from gateway.config import ConfigError, parse_settings
from gateway.providers.base import ProviderSetup
from gateway.providers.upstream import UpstreamClient
from gateway.schemas import anthropic as a
from gateway.testing import FakeUpstream, Reply, openai_completion, openai_sse
from gateway_plugins.provider_azure.provider import AzureProvider
from gateway_plugins.provider_openai.provider import OpenAIOptions

NO_CTX = cast(CallContext, None)  # the provider never reads the context
COMPLETION = Reply.json(openai_completion("hi"), headers={"apim-request-id": "apim-1"})


@dataclass
class Azure:
    """Two Azure resources (fake upstreams on 127.0.0.1) and the app's upstream client."""

    a: FakeUpstream
    b: FakeUpstream
    http: UpstreamClient

    def provider(self, **extra: Any) -> AzureProvider:
        endpoint_a, endpoint_b = self.a.url, self.b.url
        keys = [
            {
                "name": "a",
                "value": "key-a",
                "azure_key_config": {"endpoint": endpoint_a, "deployments": {"gpt-4o": "dep-4o"}},
            },
            {
                "name": "b",
                "value": "key-b",
                "azure_key_config": {"endpoint": endpoint_b + "/", "api_version": "2025-01-01"},
            },
        ]
        config = parse_settings({"providers": {"azure": {"keys": keys, **extra}}}).providers["azure"]
        return AzureProvider(ProviderSetup(name="azure", config=config, options=OpenAIOptions(), http=self.http))


@pytest.fixture
async def azure() -> AsyncIterator[Azure]:
    async with FakeUpstream() as a_side, FakeUpstream() as b_side, ClientSession() as session:
        for fake in (a_side, b_side):
            fake.default("/openai/deployments/dep-4o/chat/completions", COMPLETION)
            fake.default("/openai/deployments/gpt-4o/chat/completions", COMPLETION)
            fake.default("/openai/deployments/gpt-4o-mini/chat/completions", Reply.sse(openai_sse(("x",), done=False)))
        yield Azure(a_side, b_side, UpstreamClient(session))


def call(model: str, *, stream: bool = False) -> ChatCall:
    request = msgspec.convert(
        {"model": f"azure/{model}", "max_tokens": 9, "messages": [{"role": "user", "content": "hi"}]},
        a.MessagesRequest,
    )
    return ChatCall(dialect="anthropic", stream=stream, request=request, target=Target("azure", model))


async def test_complete_posts_to_mapped_deployment_with_api_key(azure: Azure) -> None:
    az = azure.provider()
    result = await az.complete(call("gpt-4o"), az.setup.config.keys[0], NO_CTX)
    [sent] = azure.a.requests
    assert (sent.path, sent.query) == ("/openai/deployments/dep-4o/chat/completions", {"api-version": "2024-10-21"})
    assert sent.headers["api-key"] == "key-a"
    assert "authorization" not in sent.headers
    assert sent.json["max_completion_tokens"] == 9 and sent.json["model"] == "gpt-4o"
    assert result.headers == (("x-request-id", "apim-1"),)


async def test_each_key_uses_its_own_endpoint_and_version(azure: Azure) -> None:
    az = azure.provider()
    await az.complete(call("gpt-4o"), az.setup.config.keys[1], NO_CTX)
    [sent] = azure.b.requests
    assert (sent.path, sent.query) == ("/openai/deployments/gpt-4o/chat/completions", {"api-version": "2025-01-01"})
    assert sent.headers["api-key"] == "key-b" and azure.a.requests == []


async def test_stream_posts_to_same_url_and_asks_for_usage(azure: Azure) -> None:
    az = azure.provider()
    chunks = [c async for c in az.stream(call("gpt-4o-mini", stream=True), az.setup.config.keys[0], NO_CTX)]
    [sent] = azure.a.requests
    assert (sent.path, sent.query) == (
        "/openai/deployments/gpt-4o-mini/chat/completions",
        {"api-version": "2024-10-21"},
    )
    assert sent.json["stream"] is True and sent.json["stream_options"] == {"include_usage": True}
    assert sent.headers["api-key"] == "key-a"
    assert chunks and chunks[-1].frame == b"data: [DONE]\n\n"  # EOF without [DONE] is completed


def test_headers_keep_extra_headers_and_set_api_key_last(azure: Azure) -> None:
    az = azure.provider(network_config={"extra_headers": {"x-team": "t1", "api-key": "overridden"}})
    headers = az._headers(az.setup.config.keys[0])
    assert headers == {"content-type": "application/json", "x-team": "t1", "api-key": "key-a"}


def test_max_tokens_field_option_applies(azure: Azure) -> None:
    config = parse_settings(
        {"providers": {"azure": {"keys": [{"value": "k", "azure_key_config": {"endpoint": azure.a.url}}]}}}
    ).providers["azure"]
    options = OpenAIOptions(max_tokens_field="max_tokens")
    az = AzureProvider(ProviderSetup(name="azure", config=config, options=options, http=azure.http))
    body = json.loads(az._body(call("m"), stream=False))
    assert body["max_tokens"] == 9 and "max_completion_tokens" not in body


def test_known_models_include_deployment_map(azure: Azure) -> None:
    az = azure.provider()
    assert az.known_models() == ["gpt-4o"]


def test_foreign_key_is_refused(azure: Azure) -> None:
    az = azure.provider()
    with pytest.raises(GatewayError, match="does not own"):
        az.target(ProviderKey(name="x", value="other"))


def test_invalid_key_config_fails_construction_with_paths(azure: Azure) -> None:
    config = parse_settings(
        {"providers": {"azure": {"keys": [{"value": "k", "azure_key_config": {"endpoint": "nope"}}]}}}
    ).providers["azure"]
    setup = ProviderSetup(name="azure", config=config, options=OpenAIOptions(), http=azure.http)
    with pytest.raises(ConfigError) as caught:
        AzureProvider(setup)
    assert caught.value.errors[0].startswith("$.providers.azure.keys[0].azure_key_config.endpoint: ")
    assert AzureProvider.check_config("azure", config) == caught.value.errors
