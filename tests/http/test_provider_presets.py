"""The OpenAI-compatible presets (groq, mistral, ..., ollama, vllm): each is the openai provider with its
service's base URL, auth and max-tokens field. End to end against a fake upstream, plus the defaults offline."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import urlsplit

import msgspec
import pytest
from aiohttp import ClientSession
from multidict import CIMultiDict, CIMultiDictProxy

from gateway import CallContext, ChatCall, Target
from gateway.config import ConfigError, NetworkConfig, parse_settings
from gateway.plugins import load_plugins
from gateway.providers.base import ProviderSetup
from gateway.providers.upstream import UpstreamClient, UpstreamReply
from gateway.schemas import anthropic as a
from gateway.testing import FakeUpstream, Reply, openai_completion, openai_sse
from tests.conftest import CLIENT_KEY, MakeGateway
from tests.http.anthropic_helpers import HI
from tests.http.openai_helpers import USER_HI

# kind -> (default base URL, max-tokens field, needs a key). Written out here, not imported, on purpose.
EXPECTED: dict[str, tuple[str, str, bool]] = {
    "groq": ("https://api.groq.com/openai", "max_completion_tokens", True),
    "mistral": ("https://api.mistral.ai", "max_tokens", True),
    "deepseek": ("https://api.deepseek.com", "max_tokens", True),
    "xai": ("https://api.x.ai", "max_completion_tokens", True),
    "openrouter": ("https://openrouter.ai/api", "max_tokens", True),
    "together": ("https://api.together.xyz", "max_tokens", True),
    "fireworks": ("https://api.fireworks.ai/inference", "max_tokens", True),
    "cerebras": ("https://api.cerebras.ai", "max_completion_tokens", True),
    "ollama": ("http://127.0.0.1:11434", "max_tokens", False),
    "vllm": ("http://127.0.0.1:8000", "max_tokens", False),
}
KINDS = list(EXPECTED)
OTHER_FIELD = {"max_tokens": "max_completion_tokens", "max_completion_tokens": "max_tokens"}


def upstream_key(kind: str) -> str:
    return f"sk-{kind}-upstream-secret"


def chat_path(kind: str) -> str:
    """The service's chat path: its base URL's own path prefix, then /v1/chat/completions."""
    return urlsplit(EXPECTED[kind][0]).path + "/v1/chat/completions"


def preset_config(kind: str, fake_url: str) -> dict[str, Any]:
    """The preset pointed at the fake (keeping the service's path prefix); a key only where one is needed."""
    entry: dict[str, Any] = {"network_config": {"base_url": fake_url + urlsplit(EXPECTED[kind][0]).path}}
    if EXPECTED[kind][2]:
        entry["keys"] = [{"name": kind, "value": upstream_key(kind)}]
    return {"providers": {kind: entry}}


# --- end to end -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_preset_path_auth_and_max_tokens_field(
    kind: str, fake_upstream: FakeUpstream, make_gateway: MakeGateway
) -> None:
    gw = await make_gateway(preset_config(kind, fake_upstream.url))
    fake_upstream.script(chat_path(kind), Reply.json(openai_completion(f"hi from {kind}")))
    async with gw.anthropic() as client:
        message = await client.messages.create(model=f"{kind}/some-model", max_tokens=33, messages=HI)
    assert message.content[0].text == f"hi from {kind}"  # type: ignore[union-attr]
    [sent] = fake_upstream.requests_to(chat_path(kind))
    field = EXPECTED[kind][1]
    assert sent.json[field] == 33 and OTHER_FIELD[field] not in sent.json
    assert sent.json["model"] == "some-model"
    if EXPECTED[kind][2]:
        assert sent.headers["authorization"] == f"Bearer {upstream_key(kind)}"
    else:
        assert "authorization" not in sent.headers
    assert CLIENT_KEY not in str(sent.headers)


@pytest.mark.parametrize("kind", ["groq", "ollama"])
async def test_preset_openai_client_is_relayed(
    kind: str, fake_upstream: FakeUpstream, make_gateway: MakeGateway
) -> None:
    gw = await make_gateway(preset_config(kind, fake_upstream.url))
    body = openai_completion("relayed")
    fake_upstream.script(chat_path(kind), Reply.json(body))
    async with gw.openai() as client:
        raw = await client.chat.completions.with_raw_response.create(model=f"{kind}/m", messages=USER_HI, max_tokens=5)
    assert raw.content == json.dumps(body, separators=(",", ":")).encode()
    [sent] = fake_upstream.requests_to(chat_path(kind))
    assert sent.json["max_tokens"] == 5 and sent.json["model"] == "m"  # the client's own field, untouched


async def test_preset_stream(fake_upstream: FakeUpstream, make_gateway: MakeGateway) -> None:
    gw = await make_gateway(preset_config("openrouter", fake_upstream.url))
    fake_upstream.script(chat_path("openrouter"), Reply.sse(openai_sse(("str", "eam"))))
    fake_upstream.script(chat_path("openrouter"), Reply.sse(openai_sse(("again",))))
    async with gw.anthropic() as client:
        async with client.messages.stream(model="openrouter/a/b", max_tokens=9, messages=HI) as stream:
            message = await stream.get_final_message()
    async with gw.openai() as oclient:
        chunks = await oclient.chat.completions.create(model="openrouter/a/b", messages=USER_HI, stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])
    assert message.content[0].text == "stream"  # type: ignore[union-attr]
    assert text == "again"
    first, second = fake_upstream.requests_to(chat_path("openrouter"))
    assert first.json["stream"] is True and first.json["model"] == "a/b" and first.json["max_tokens"] == 9
    assert second.headers["authorization"] == f"Bearer {upstream_key('openrouter')}"


async def test_local_preset_with_a_key_sends_it(fake_upstream: FakeUpstream, make_gateway: MakeGateway) -> None:
    config = preset_config("vllm", fake_upstream.url)
    config["providers"]["vllm"]["keys"] = [{"value": "vllm-api-key"}]
    gw = await make_gateway(config)
    fake_upstream.script(chat_path("vllm"), Reply.json(openai_completion()))
    async with gw.openai() as client:
        await client.chat.completions.create(model="vllm/m", messages=USER_HI)
    assert fake_upstream.requests_to(chat_path("vllm"))[0].headers["authorization"] == "Bearer vllm-api-key"


def test_hosted_preset_without_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        load_plugins(parse_settings({"providers": {"groq": {}}}))
    assert any(e.startswith("$.providers.groq.keys:") for e in caught.value.errors)


def test_preset_option_is_validated() -> None:
    with pytest.raises(ConfigError) as caught:
        load_plugins(parse_settings({"providers": {"ollama": {"options": {"max_tokens_field": "n"}}}}))
    assert caught.value.errors[0].startswith("$.providers.ollama.options.max_tokens_field:")


# --- defaults, offline ----------------------------------------------------------------------------------------


class RecordingHttp(UpstreamClient):
    """The upstream client with its network I/O replaced (the default URLs are real hosts): records the URL and
    answers one completion."""

    def __init__(self) -> None:
        super().__init__(cast(ClientSession, None))
        self.urls: list[str] = []

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], network: NetworkConfig) -> UpstreamReply:
        self.urls.append(url)
        reply = json.dumps(openai_completion()).encode()
        return UpstreamReply(status=200, headers=CIMultiDictProxy(CIMultiDict()), body=reply)


@pytest.mark.parametrize("kind", KINDS)
async def test_default_base_url_is_used_when_none_is_configured(kind: str) -> None:
    settings = parse_settings({"providers": {kind: {"keys": [{"value": "k"}]}}})
    registry = load_plugins(settings).providers
    http = RecordingHttp()
    cls = registry.kinds[kind]
    setup = ProviderSetup(name=kind, config=settings.providers[kind], options=cls.options_type(), http=http)
    provider = cls(setup)
    request = msgspec.convert({"model": f"{kind}/m", "max_tokens": 4, "messages": HI}, a.MessagesRequest)
    call = ChatCall(dialect="anthropic", stream=False, request=request, target=Target(kind, "m"))
    await provider.complete(call, settings.providers[kind].keys[0], cast(CallContext, None))
    assert http.urls == [EXPECTED[kind][0] + "/v1/chat/completions"]
    assert provider.setup.config.network_config.base_url == EXPECTED[kind][0]
    assert provider.requires_keys is EXPECTED[kind][2]
    assert provider.dialect == "openai"
