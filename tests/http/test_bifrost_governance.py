"""Bifrost's governance forms through real requests: budgets and rate limits of governance.budgets[] /
rate_limits[] referenced by id (from keys, provider configs, teams, customers, or naming their owner), shared by
everything that references them; and the admin API's HTTP Basic login from auth_config."""

from __future__ import annotations

import base64
import logging
from typing import Any

import anthropic
import openai
import pytest

from gateway.testing import FakeUpstream, Reply, anthropic_message, anthropic_usage, assert_anthropic_error
from tests.conftest import Gateway, MakeGateway
from tests.http.governance_helpers import (
    API,
    CLAUDE,
    UP_MESSAGES,
    VK_A,
    VK_B,
    X_CHAT,
    X,
    admin,
    answer_everything,
    config,
    messages,
    settled,
    used,
    vk,
)

EXPENSIVE = anthropic_usage(10, 10_000)  # $0.02001 at the helpers' prices: over a $0.01 budget
USER, PASSWORD = "admin-user", "s3cret-admin-password-for-tests"


def with_ids(base: dict[str, Any], **sections: Any) -> dict[str, Any]:
    base["governance"].update(sections)
    return base


async def test_budget_by_id_from_a_key_is_enforced_for_both_sdks(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("ok", usage=EXPENSIVE)))
    budgets = [{"id": "b-month", "max_limit": 0.01, "reset_duration": "1M"}]
    gw = await make_gateway(with_ids(config(fake_upstream.url, vk("vk-a", VK_A, budget_id="b-month")), budgets=budgets))
    async with gw.anthropic(api_key=VK_A) as client:
        await client.messages.create(model=CLAUDE, max_tokens=16, messages=X)
        await settled(gw)
        with pytest.raises(anthropic.APIStatusError) as caught:
            await client.messages.create(model=CLAUDE, max_tokens=16, messages=X)
    assert caught.value.status_code == 402 and "budget 'b-month'" in caught.value.message
    async with gw.openai(api_key=VK_A) as oai:
        with pytest.raises(openai.APIStatusError) as raised:
            await oai.chat.completions.create(model=CLAUDE, max_tokens=16, messages=X_CHAT)
    assert raised.value.status_code == 402 and raised.value.code == "insufficient_quota"
    assert used(gw, "budget:id:b-month") == pytest.approx(0.02001)
    assert len(fake_upstream.requests) == 1


@pytest.mark.parametrize(
    "owner",
    [
        pytest.param({"virtual_key_id": "vk-a"}, id="virtual_key_id"),
        pytest.param({"team_id": "t-1"}, id="team_id"),
        pytest.param({"customer_id": "c-1"}, id="customer_id"),
        pytest.param({"provider_config_id": 7}, id="provider_config_id"),
    ],
)
async def test_a_budget_naming_its_owner_applies_to_it(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, owner: dict[str, Any]
) -> None:
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("ok", usage=EXPENSIVE)))
    key = vk("vk-a", VK_A, team_id="t-1")
    key["provider_configs"][0]["id"] = 7  # anthropic's
    base = config(fake_upstream.url, key, teams=[{"id": "t-1", "customer_id": "c-1"}], customers=[{"id": "c-1"}])
    budgets = [{"id": "b-owned", "max_limit": 0.01, "reset_duration": "1d", **owner}]
    gw = await make_gateway(with_ids(base, budgets=budgets))
    async with gw.http(None) as raw:
        assert (await messages(raw, VK_A)).status == 200
        await settled(gw)
        assert_anthropic_error(await messages(raw, VK_A), 402, "billing_error", "budget 'b-owned'")


async def test_one_budget_referenced_by_two_keys_is_spent_by_both(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(UP_MESSAGES, Reply.json(anthropic_message("cheap", usage=anthropic_usage(10, 10))))
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("ok", usage=EXPENSIVE)))
    keys = vk("vk-a", VK_A, budget_id="shared"), vk("vk-b", VK_B, budget_id="shared")
    budgets = [{"id": "shared", "max_limit": 0.01, "reset_duration": "1d"}]
    gw = await make_gateway(with_ids(config(fake_upstream.url, *keys), budgets=budgets))
    async with gw.http(None) as raw:
        assert (await messages(raw, VK_B)).status == 200
        await settled(gw)
        assert (await messages(raw, VK_A)).status == 200
        await settled(gw)
        assert_anthropic_error(await messages(raw, VK_B), 402, "billing_error", "budget 'shared'")


@pytest.mark.parametrize("where", ["key", "provider_config", "team", "customer"])
async def test_rate_limit_by_id_is_429_once_used_up(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, where: str
) -> None:
    answer_everything(fake_upstream)
    key = vk("vk-a", VK_A, team_id="t-1", **({"rate_limit_id": "rl"} if where == "key" else {}))
    if where == "provider_config":
        for provider_config in key["provider_configs"]:
            provider_config["rate_limit_id"] = "rl"
    team = {"id": "t-1", "customer_id": "c-1", **({"rate_limit_id": "rl"} if where == "team" else {})}
    customer = {"id": "c-1", **({"rate_limit_id": "rl"} if where == "customer" else {})}
    limits = [{"id": "rl", "request_max_limit": 2, "request_reset_duration": "1h"}]
    gw = await make_gateway(
        with_ids(config(fake_upstream.url, key, teams=[team], customers=[customer]), rate_limits=limits)
    )
    async with gw.http(None) as raw:
        assert (await messages(raw, VK_A)).status == 200
        assert (await messages(raw, VK_A)).status == 200
        assert_anthropic_error(await messages(raw, VK_A), 429, "rate_limit_error", "rate limit 'rl'")
    assert len(fake_upstream.requests) == 2


# --- the admin API's Basic login ------------------------------------------------------------------------------


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def basic_gateway(make_gateway: MakeGateway, fake: FakeUpstream, enabled: bool = True) -> Gateway:
    base = config(fake.url, vk("vk-a", VK_A), admin="bearer-admin-token-for-tests")
    base["governance"]["auth_config"] |= {"admin_username": USER, "admin_password": PASSWORD, "is_enabled": enabled}
    return await make_gateway(base)


async def test_admin_api_takes_basic_with_the_admin_username_and_password(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    gw = await basic_gateway(make_gateway, fake_upstream)
    async with gw.http(None) as raw:
        listed = await raw.request("GET", f"{API}/virtual-keys", None, basic(USER, PASSWORD))
        assert listed.status == 200 and [k["id"] for k in listed.json()["data"]] == ["vk-a"]
        bearer = await raw.request(
            "GET", f"{API}/teams", None, {"Authorization": "Bearer bearer-admin-token-for-tests"}
        )
        assert bearer.status == 200
        for wrong in (basic(USER, "wrong"), basic("someone", PASSWORD), {"Authorization": "Basic !!notbase64"}):
            denied = await raw.request("GET", f"{API}/virtual-keys", None, wrong)
            assert denied.status == 401 and PASSWORD.encode() not in denied.body


async def test_basic_login_is_off_unless_is_enabled(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    gw = await basic_gateway(make_gateway, fake_upstream, enabled=False)
    async with gw.http(None) as raw:
        assert (await raw.request("GET", f"{API}/virtual-keys", None, basic(USER, PASSWORD))).status == 401


async def test_failed_basic_logins_are_throttled_like_bad_tokens(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    gw = await basic_gateway(make_gateway, fake_upstream)
    async with gw.http(None) as raw:
        statuses = [
            (await raw.request("GET", f"{API}/virtual-keys", None, basic(USER, f"guess-{i}"))).status for i in range(12)
        ]
        assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]
        # the right password waits too: the address is locked for the window
        assert (await raw.request("GET", f"{API}/virtual-keys", None, basic(USER, PASSWORD))).status == 429


async def test_admin_password_is_masked_in_logs(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    gw = await basic_gateway(make_gateway, fake_upstream)
    assert gw.app is not None
    with caplog.at_level(logging.INFO):
        logging.getLogger("gateway.test").warning("leaked %s and %s", PASSWORD, basic(USER, PASSWORD)["Authorization"])
    assert PASSWORD not in caplog.text
    assert basic(USER, PASSWORD)["Authorization"].split()[1] not in caplog.text


async def test_admin_api_entries_reference_budgets_and_rate_limits_by_id(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("ok", usage=EXPENSIVE)))
    budgets = [{"id": "b-api", "max_limit": 0.01, "reset_duration": "1d"}]
    gw = await make_gateway(with_ids(config(fake_upstream.url), budgets=budgets))
    async with gw.http(None) as raw:
        dangling = await admin(raw, "POST", "/virtual-keys", {"name": "x", "budget_id": "nope"})
        assert dangling.status == 400 and b"'nope'" in dangling.body
        body = {"name": "api-key", "budget_id": "b-api", "provider_configs": [{"provider": "anthropic"}]}
        created = await admin(raw, "POST", "/virtual-keys", body)
        assert created.status == 201, created
        value = created.json()["value"]
        assert (await messages(raw, value)).status == 200
        await settled(gw)
        assert_anthropic_error(await messages(raw, value), 402, "billing_error", "budget 'b-api'")
