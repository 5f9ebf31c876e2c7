"""Listings narrowed to the caller: a virtual key sees only the providers and models it may call (and retrieving
another is a 404), `?provider=` narrows further, and Bifrost's `page_size` / `page_token` page the OpenAI shape."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from gateway.testing import OPENAI_KEY, FakeUpstream, MakeGateway, Reply, assert_openai_error
from tests.http.governance_helpers import VK_A, VK_B, config, vk

UPSTREAM = ["gpt-4o-mini", "gpt-4.1", "o3", "text-embedding-3-small"]


def lists_models(fake: FakeUpstream) -> None:
    models = [{"id": m, "object": "model", "created": 1721172741, "owned_by": "system"} for m in UPSTREAM]
    fake.default("/v1/models", Reply.json({"object": "list", "data": models}))


def star_config(url: str, *keys: dict[str, Any], **client: Any) -> dict[str, Any]:
    """The governance test config, with the openai key allowing "*" (so its upstream's list is served)."""
    built = config(url, *keys, **client)
    built["providers"]["openai"]["keys"] = [{"name": "o", "value": OPENAI_KEY, "models": ["*"]}]
    return built


NARROW = vk("vk-a", VK_A, provider_configs=[{"provider": "openai", "allowed_models": ["gpt-4o-mini", "o3"]}])
WIDE = vk("vk-b", VK_B)


async def test_a_virtual_key_lists_only_what_it_may_call(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    lists_models(fake_upstream)
    gw = await make_gateway(star_config(fake_upstream.url, NARROW, WIDE))
    async with gw.openai(api_key=VK_A) as client:
        narrow = [m.id async for m in client.models.list()]
        with pytest.raises(openai.NotFoundError):
            await client.models.retrieve("openai/gpt-4.1")
        allowed = await client.models.retrieve("openai/o3")
    async with gw.openai(api_key=VK_B) as client:
        wide = [m.id async for m in client.models.list()]
    async with gw.anthropic(api_key=VK_A) as client:
        narrow_anthropic = [m.id async for m in client.models.list()]
    assert narrow == ["openai/gpt-4o-mini", "openai/o3"]
    assert allowed.id == "openai/o3"
    assert {f"openai/{m}" for m in UPSTREAM} <= set(wide)
    assert any(m.startswith("mock/") or "/" not in m for m in wide)  # the key may use mock and anthropic too
    # Not the anthropic provider's bare ids: a bare call from this key would be served by openai, not anthropic.
    assert narrow_anthropic == ["openai/gpt-4o-mini", "openai/o3"]


async def test_a_required_key_is_required_to_list(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    lists_models(fake_upstream)
    gw = await make_gateway(star_config(fake_upstream.url, NARROW, enforce_auth_on_inference=True))
    async with gw.anthropic(api_key="sk-bf-not-a-key", max_retries=0) as client:
        with pytest.raises(anthropic.AuthenticationError):
            await client.models.list()


async def test_provider_filter_and_bifrost_paging(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    lists_models(fake_upstream)
    gw = await make_gateway(star_config(fake_upstream.url, WIDE))
    headers = {"anthropic-version": None}  # the OpenAI shape of /v1/models (an Anthropic client sends one)
    async with gw.http(VK_B, bearer=True) as http:
        only = (await http.get("/v1/models", headers, params={"provider": "openai"})).json()
        pages: list[list[str]] = []
        token = ""
        for _ in range(10):  # bounded: 4 models in pages of 3 take 2
            params = {"provider": "openai", "page_size": "3"} | ({"page_token": token} if token else {})
            body = (await http.get("/v1/models", headers, params=params)).json()
            pages.append([m["id"] for m in body["data"]])
            token = body.get("next_page_token", "")
            if not token:
                break
        bad_token = await http.get("/v1/models", headers, params={"page_token": "bm90LWFuLWlk"})
        bad_size = await http.get("/v1/models", headers, params={"page_size": "0"})
    assert [m["id"] for m in only["data"]] == [f"openai/{m}" for m in UPSTREAM]
    assert "next_page_token" not in only
    assert pages == [[f"openai/{m}" for m in UPSTREAM[:3]], [f"openai/{UPSTREAM[3]}"]]
    assert_openai_error(bad_token, 400, "invalid_request_error", "page_token")
    assert_openai_error(bad_size, 400, "invalid_request_error", "page_size")
