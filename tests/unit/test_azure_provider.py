"""AzureProvider without a network: the URL and headers each call is sent with, per key and model."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import msgspec
import pytest
from gateway_plugins.provider_azure.provider import AzureProvider
from gateway_plugins.provider_openai.provider import OpenAIOptions
from multidict import CIMultiDict, CIMultiDictProxy

from gateway import CallContext, ChatCall, GatewayError, ProviderKey, Target
from gateway.config import ConfigError, NetworkConfig, parse_settings
from gateway.providers.base import ProviderSetup
from gateway.providers.upstream import ErrorMapper, UpstreamClient, UpstreamReply
from gateway.schemas import anthropic as a
from gateway.sse import SseBatch
from tests.fakes.wire import openai_completion

A = "https://a.openai.azure.com"
B = "https://b.openai.azure.com"
NO_CTX = cast(CallContext, None)  # the provider never reads the context


@dataclass
class Sent:
    url: str
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class StubHttp:
    """Records what the provider sends; answers one completion, or an empty stream."""

    sent: list[Sent] = field(default_factory=list)
    reply_headers: dict[str, str] = field(default_factory=dict)

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], network: NetworkConfig) -> UpstreamReply:
        self.sent.append(Sent(url, json.loads(body), dict(headers)))
        reply = json.dumps(openai_completion("hi")).encode()
        return UpstreamReply(status=200, headers=CIMultiDictProxy(CIMultiDict(self.reply_headers)), body=reply)

    async def sse_batches(
        self, url: str, body: bytes, headers: Mapping[str, str], network: NetworkConfig, errors: ErrorMapper
    ) -> AsyncIterator[SseBatch]:
        self.sent.append(Sent(url, json.loads(body), dict(headers)))
        empty: tuple[SseBatch, ...] = ()
        for batch in empty:
            yield batch


def provider(http: StubHttp, **extra: Any) -> AzureProvider:
    keys = [
        {"name": "a", "value": "key-a", "azure_key_config": {"endpoint": A, "deployments": {"gpt-4o": "dep-4o"}}},
        {"name": "b", "value": "key-b", "azure_key_config": {"endpoint": B + "/", "api_version": "2025-01-01"}},
    ]
    config = parse_settings({"providers": {"azure": {"keys": keys, **extra}}}).providers["azure"]
    setup = ProviderSetup(name="azure", config=config, options=OpenAIOptions(), http=cast(UpstreamClient, http))
    return AzureProvider(setup)


def call(model: str, *, stream: bool = False) -> ChatCall:
    request = msgspec.convert(
        {"model": f"azure/{model}", "max_tokens": 9, "messages": [{"role": "user", "content": "hi"}]},
        a.MessagesRequest,
    )
    return ChatCall(dialect="anthropic", stream=stream, request=request, target=Target("azure", model))


async def test_complete_posts_to_mapped_deployment_with_api_key() -> None:
    http = StubHttp(reply_headers={"apim-request-id": "apim-1"})
    az = provider(http)
    result = await az.complete(call("gpt-4o"), az.setup.config.keys[0], NO_CTX)
    [sent] = http.sent
    assert sent.url == f"{A}/openai/deployments/dep-4o/chat/completions?api-version=2024-10-21"
    assert sent.headers["api-key"] == "key-a"
    assert "authorization" not in {h.lower() for h in sent.headers}
    assert sent.body["max_completion_tokens"] == 9 and sent.body["model"] == "gpt-4o"
    assert result.headers == (("x-request-id", "apim-1"),)


async def test_each_key_uses_its_own_endpoint_and_version() -> None:
    http = StubHttp()
    az = provider(http)
    await az.complete(call("gpt-4o"), az.setup.config.keys[1], NO_CTX)
    assert http.sent[0].url == f"{B}/openai/deployments/gpt-4o/chat/completions?api-version=2025-01-01"
    assert http.sent[0].headers["api-key"] == "key-b"


async def test_stream_posts_to_same_url_and_asks_for_usage() -> None:
    http = StubHttp()
    az = provider(http)
    chunks = [c async for c in az.stream(call("gpt-4o-mini", stream=True), az.setup.config.keys[0], NO_CTX)]
    [sent] = http.sent
    assert sent.url == f"{A}/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
    assert sent.body["stream"] is True and sent.body["stream_options"] == {"include_usage": True}
    assert sent.headers["api-key"] == "key-a"
    assert chunks and chunks[-1].frame == b"data: [DONE]\n\n"  # EOF without [DONE] is completed


def test_headers_keep_extra_headers_and_set_api_key_last() -> None:
    az = provider(StubHttp(), network_config={"extra_headers": {"x-team": "t1", "api-key": "overridden"}})
    headers = az._headers(az.setup.config.keys[0])
    assert headers == {"content-type": "application/json", "x-team": "t1", "api-key": "key-a"}


def test_max_tokens_field_option_applies() -> None:
    http = StubHttp()
    config = parse_settings(
        {"providers": {"azure": {"keys": [{"value": "k", "azure_key_config": {"endpoint": A}}]}}}
    ).providers["azure"]
    options = OpenAIOptions(max_tokens_field="max_tokens")
    az = AzureProvider(ProviderSetup(name="azure", config=config, options=options, http=cast(UpstreamClient, http)))
    body = json.loads(az._body(call("m"), stream=False))
    assert body["max_tokens"] == 9 and "max_completion_tokens" not in body


def test_known_models_include_deployment_map() -> None:
    az = provider(StubHttp())
    assert az.known_models() == ["gpt-4o"]


def test_foreign_key_is_refused() -> None:
    az = provider(StubHttp())
    with pytest.raises(GatewayError, match="does not own"):
        az.target(ProviderKey(name="x", value="other"))


def test_invalid_key_config_fails_construction_with_paths() -> None:
    config = parse_settings(
        {"providers": {"azure": {"keys": [{"value": "k", "azure_key_config": {"endpoint": "nope"}}]}}}
    ).providers["azure"]
    setup = ProviderSetup(name="azure", config=config, options=OpenAIOptions(), http=cast(UpstreamClient, StubHttp()))
    with pytest.raises(ConfigError) as caught:
        AzureProvider(setup)
    assert caught.value.errors[0].startswith("$.providers.azure.keys[0].azure_key_config.endpoint: ")
    assert AzureProvider.check_config("azure", config) == caught.value.errors
