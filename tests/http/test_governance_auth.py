"""Governance, who calls: a virtual key in each header form (both SDKs and raw HTTP), what is not a virtual key,
enforce_auth_on_inference, and unknown, inactive and expired keys in both dialects."""

from __future__ import annotations

import anthropic
import openai
import pytest

from gateway.testing import FakeUpstream, assert_anthropic_error, assert_openai_error
from tests.conftest import Gateway, MakeGateway
from tests.http.governance_helpers import (
    CHAT,
    CLAUDE,
    CLAUDE_BODY,
    GPT,
    GPT_BODY,
    MESSAGES,
    UP_CHAT,
    UP_MESSAGES,
    VK_A,
    answer_everything,
    bearer,
    chat,
    config,
    messages,
    providers,
    use_clock,
    used,
    utc,
    vk,
)

# Counting the key's requests shows it was recognised: a generous limit the tests never reach.
COUNTED = {"rate_limit": {"request_max_limit": 1000, "request_reset_duration": "1h"}}
REQUESTS = "requests:vk:vk-a"


@pytest.fixture
async def gw(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> Gateway:
    answer_everything(fake_upstream)
    legacy = vk("vk-legacy", "legacy-key-without-prefix", **COUNTED)
    return await make_gateway(config(fake_upstream.url, vk("vk-a", VK_A, **COUNTED), legacy))


def assert_vk_not_forwarded(fake: FakeUpstream) -> None:
    assert fake.requests, "the upstream was not called"
    for sent in fake.requests:
        assert VK_A not in str(sent.headers) and VK_A.encode() not in sent.body


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"x-bf-vk": VK_A}, id="x-bf-vk"),
        pytest.param({"Authorization": f"Bearer {VK_A}"}, id="authorization-bearer"),
        pytest.param({"Authorization": f"bearer {VK_A}"}, id="authorization-bearer-lowercase"),
        pytest.param({"x-api-key": VK_A}, id="x-api-key"),
        pytest.param({"x-goog-api-key": VK_A}, id="x-goog-api-key"),
        # An older client sending a non-VK bearer next to the VK in x-api-key is still that key.
        pytest.param({"Authorization": "Bearer sk-ant-other", "x-api-key": VK_A}, id="bearer-other+x-api-key"),
    ],
)
async def test_each_header_form_carries_the_virtual_key(
    gw: Gateway, fake_upstream: FakeUpstream, headers: dict[str, str]
) -> None:
    async with gw.http(None) as raw:
        assert (await raw.post(MESSAGES, CLAUDE_BODY, headers)).status == 200
        assert used(gw, REQUESTS) == 1
        assert (await raw.post(CHAT, GPT_BODY, headers)).status == 200
        assert used(gw, REQUESTS) == 2
    assert_vk_not_forwarded(fake_upstream)


async def test_anthropic_sdk_sends_the_key_as_bearer_or_x_api_key(gw: Gateway, fake_upstream: FakeUpstream) -> None:
    async with gw.anthropic(api_key=VK_A) as client:  # anthropic 2.x: Authorization: Bearer
        message = await client.messages.create(model=CLAUDE, max_tokens=16, messages=[{"role": "user", "content": "x"}])
    assert message.content[0].text == "from anthropic"  # type: ignore[union-attr]
    assert used(gw, REQUESTS) == 1
    async with gw.anthropic(api_key="not-a-virtual-key", default_headers={"x-api-key": VK_A}) as client:
        await client.messages.create(model=CLAUDE, max_tokens=16, messages=[{"role": "user", "content": "x"}])
    assert used(gw, REQUESTS) == 2
    async with gw.anthropic(default_headers={"x-bf-vk": VK_A}) as client:
        await client.messages.create(model=CLAUDE, max_tokens=16, messages=[{"role": "user", "content": "x"}])
    assert used(gw, REQUESTS) == 3
    assert_vk_not_forwarded(fake_upstream)


async def test_openai_sdk_sends_the_key_as_bearer_or_x_bf_vk(gw: Gateway, fake_upstream: FakeUpstream) -> None:
    async with gw.openai(api_key=VK_A) as client:
        completion = await client.chat.completions.create(
            model=GPT, max_tokens=16, messages=[{"role": "user", "content": "x"}]
        )
    assert completion.choices[0].message.content == "from openai"
    assert used(gw, REQUESTS) == 1
    async with gw.openai(default_headers={"x-bf-vk": VK_A}) as client:
        await client.chat.completions.create(model=GPT, max_tokens=16, messages=[{"role": "user", "content": "x"}])
    assert used(gw, REQUESTS) == 2
    assert_vk_not_forwarded(fake_upstream)


async def test_a_value_without_sk_bf_is_not_a_virtual_key_unless_sent_as_x_bf_vk(
    gw: Gateway, fake_upstream: FakeUpstream
) -> None:
    """Not enforced: a non-VK bearer / x-api-key is an anonymous caller, not an unknown key."""
    legacy = "legacy-key-without-prefix"
    async with gw.http(None) as raw:
        for headers in (bearer("sk-other-client-key"), {"x-api-key": "some-client-key"}, bearer(legacy), {}):
            assert (await raw.post(MESSAGES, CLAUDE_BODY, headers)).status == 200, headers
        assert used(gw, REQUESTS) == 0
        assert used(gw, "requests:vk:vk-legacy") == 0  # its value as a bearer is not a VK...
        assert (await raw.post(MESSAGES, CLAUDE_BODY, {"x-bf-vk": legacy})).status == 200
        assert used(gw, "requests:vk:vk-legacy") == 1  # ...but x-bf-vk takes any value
        answer = await raw.post(MESSAGES, CLAUDE_BODY, {"x-bf-vk": "not-a-known-key"})
        assert_anthropic_error(answer, 401, "authentication_error")


async def test_enforced_auth_refuses_calls_without_a_virtual_key(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    answer_everything(fake_upstream)
    gw = await make_gateway(config(fake_upstream.url, vk("vk-a", VK_A), enforce_auth_on_inference=True))
    async with gw.http(None) as raw:
        for headers in ({}, bearer("sk-other-client-key"), {"x-api-key": "a-client-key"}):
            assert_anthropic_error(await raw.post(MESSAGES, CLAUDE_BODY, headers), 401, "authentication_error")
            answer = await raw.post(CHAT, GPT_BODY, headers)
            assert_openai_error(answer, 401, "authentication_error", code="invalid_api_key")
        assert (await raw.post(MESSAGES, CLAUDE_BODY, bearer(VK_A))).status == 200
        assert (await raw.post(CHAT, GPT_BODY, {"x-bf-vk": VK_A})).status == 200
    async with gw.anthropic() as client:  # the SDK with a plain client key
        with pytest.raises(anthropic.AuthenticationError):
            await client.messages.create(model=CLAUDE, max_tokens=16, messages=[{"role": "user", "content": "x"}])
    assert len(fake_upstream.requests) == 2


async def test_enforced_auth_with_only_an_admin_token_still_needs_a_virtual_key(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    """An admin token means keys are handed out through the API: governance is in use with no key yet."""
    answer_everything(fake_upstream)
    gw = await make_gateway(config(fake_upstream.url, enforce_auth_on_inference=True))
    async with gw.http(None) as raw:
        assert_anthropic_error(await raw.post(MESSAGES, CLAUDE_BODY, bearer("a-client-key")), 401,
                               "authentication_error")  # fmt: skip


async def test_enforced_auth_without_governance_in_use_accepts_any_client_key(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    answer_everything(fake_upstream)
    gw = await make_gateway(config(fake_upstream.url, admin=None, enforce_auth_on_inference=True))
    async with gw.http(None) as raw:
        assert (await raw.post(MESSAGES, CLAUDE_BODY, bearer("a-client-key"))).status == 200
        assert_anthropic_error(await raw.post(MESSAGES, CLAUDE_BODY), 401, "authentication_error")


async def test_unknown_virtual_key_is_401_in_both_dialects(gw: Gateway, fake_upstream: FakeUpstream) -> None:
    unknown = "sk-bf-not-a-key-we-know"
    async with gw.http(None) as raw:
        for headers in (bearer(unknown), {"x-api-key": unknown}, {"x-bf-vk": unknown}, {"x-goog-api-key": unknown}):
            assert_anthropic_error(await raw.post(MESSAGES, CLAUDE_BODY, headers), 401, "authentication_error")
            answer = await raw.post(CHAT, GPT_BODY, headers)
            assert_openai_error(answer, 401, "authentication_error", code="invalid_api_key")
    async with gw.openai(api_key=unknown) as client:
        with pytest.raises(openai.AuthenticationError):
            await client.chat.completions.create(model=GPT, max_tokens=16, messages=[{"role": "user", "content": "x"}])
    assert not fake_upstream.requests


async def test_inactive_virtual_key_is_403(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    answer_everything(fake_upstream)
    gw = await make_gateway(config(fake_upstream.url, vk("vk-off", VK_A, is_active=False)))
    async with gw.http(None) as raw:
        assert_anthropic_error(await messages(raw, VK_A), 403, "permission_error", "inactive")
        assert_openai_error(await chat(raw, VK_A), 403, "permission_error", "inactive")
    async with gw.anthropic(api_key=VK_A) as client:
        with pytest.raises(anthropic.PermissionDeniedError):
            await client.messages.create(model=CLAUDE, max_tokens=16, messages=[{"role": "user", "content": "x"}])
    assert not fake_upstream.requests


async def test_key_expired_in_the_past_is_403(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    answer_everything(fake_upstream)
    gw = await make_gateway(config(fake_upstream.url, vk("vk-old", VK_A, expires_at="2020-01-01T00:00:00Z")))
    async with gw.http(None) as raw:
        assert_anthropic_error(await messages(raw, VK_A), 403, "permission_error", "expired")
        assert_openai_error(await chat(raw, VK_A), 403, "permission_error", "expired")
    assert not fake_upstream.requests


async def test_key_expires_at_its_instant_by_the_injected_clock(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    answer_everything(fake_upstream)
    key = vk("vk-soon", VK_A, expires_at="2031-03-01T12:00:00+02:00", provider_configs=providers("anthropic"))
    gw = await make_gateway(config(fake_upstream.url, key))
    clock = use_clock(gw, utc("2031-03-01T09:59:59"))
    async with gw.http(None) as raw:
        assert (await messages(raw, VK_A)).status == 200
        clock.now = utc("2031-03-01T10:00:00")  # 12:00 at +02:00
        assert_anthropic_error(await messages(raw, VK_A), 403, "permission_error", "expired")
    assert len(fake_upstream.requests_to(UP_MESSAGES)) == 1
    assert not fake_upstream.requests_to(UP_CHAT)
