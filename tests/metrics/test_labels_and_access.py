"""Custom labels (client.prometheus_labels, filled from x-bf-dim-<label>), bounded label values, who may read
/metrics (the admin token, or a listener of its own), and config mistakes refused at start-up."""

from __future__ import annotations

import socket

import pytest
from anthropic.types import MessageParam

from gateway.api import ConfigError
from gateway.testing import FakeUpstream, Reply, anthropic_message, assert_openai_error, get_once
from tests.conftest import MakeGateway
from tests.http.governance_helpers import ADMIN, bearer, vk

from .helpers import VK_A, metrics_config, parse, scrape, scrape_until, total, values

HI: list[MessageParam] = [{"role": "user", "content": "hi"}]


async def test_custom_labels_from_dimension_headers(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.default("/v1/messages", Reply.json(anthropic_message("hi")))
    gw = await make_gateway(metrics_config(fake_upstream.url, prometheus_labels=["tenant", "env"]))
    async with gw.anthropic(api_key=VK_A) as claude, gw.http(None) as http:
        for tenant in ("acme", "acme", "globex"):
            headers = {"x-bf-dim-tenant": tenant, "x-bf-dim-env": "prod"}
            await claude.messages.create(model="anthropic/claude-x", max_tokens=16, messages=HI, extra_headers=headers)
        await claude.messages.create(model="anthropic/claude-x", max_tokens=16, messages=HI)  # no dimensions
        samples = await scrape_until(http, lambda s: total(s, "bifrost_success_requests_total") == 4)
    assert total(samples, "bifrost_success_requests_total", tenant="acme", env="prod") == 2
    assert total(samples, "bifrost_success_requests_total", tenant="globex", env="prod") == 1
    assert total(samples, "bifrost_success_requests_total", tenant="", env="") == 1
    assert total(samples, "http_requests_total", path="/anthropic/v1/messages", tenant="acme") == 2
    assert total(samples, "bifrost_output_tokens_total", tenant="globex") > 0


async def test_team_in_prometheus_labels_fills_the_base_team_label_when_the_key_has_none(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    """Bifrost's configs list `team` as a custom label (Bifrost's base labels are team_id/team_name)."""
    fake_upstream.default("/v1/messages", Reply.json(anthropic_message("hi")))
    teamless = "sk-bf-test-key-metrics-bbbbbbbbbb"
    keys = (vk("vk-a", VK_A, team_id="t-1"), vk("vk-b", teamless))
    gw = await make_gateway(metrics_config(fake_upstream.url, *keys, prometheus_labels=["team", "tenant"]))
    search = {"x-bf-dim-team": "search", "x-bf-dim-tenant": "acme"}
    async with gw.anthropic(api_key=VK_A) as in_team, gw.anthropic(api_key=teamless) as alone, gw.http(None) as http:
        await in_team.messages.create(model="anthropic/claude-x", max_tokens=16, messages=HI, extra_headers=search)
        await alone.messages.create(model="anthropic/claude-x", max_tokens=16, messages=HI, extra_headers=search)
        await alone.messages.create(model="anthropic/claude-x", max_tokens=16, messages=HI)
        samples = await scrape_until(http, lambda s: total(s, "bifrost_success_requests_total") == 3)
    assert total(samples, "bifrost_success_requests_total", virtual_key_name="vk-a", team="t-1", tenant="acme") == 1
    assert total(samples, "bifrost_success_requests_total", virtual_key_name="vk-b", team="search") == 1
    assert total(samples, "bifrost_success_requests_total", virtual_key_name="vk-b", team="", tenant="") == 1


async def test_label_values_are_bounded(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    """Each label keeps its first `label_value_limit` values; the rest count as "other" (a caller choosing a new
    model name or header value per call cannot grow the series without end)."""
    fake_upstream.default("/v1/messages", Reply.json(anthropic_message("hi")))
    cfg = metrics_config(fake_upstream.url, plugin={"label_value_limit": 3}, prometheus_labels=["tenant"])
    gw = await make_gateway(cfg)
    async with gw.anthropic(api_key=VK_A) as claude, gw.http(None) as http:
        for n in range(6):
            headers = {"x-bf-dim-tenant": f"t{n}" * 80}  # long values are cut, too
            await claude.messages.create(model=f"anthropic/m{n}", max_tokens=16, messages=HI, extra_headers=headers)
        samples = await scrape_until(http, lambda s: total(s, "bifrost_success_requests_total") == 6)
    assert values(samples, "bifrost_success_requests_total", "model") == {"m0", "m1", "m2", "other"}
    assert total(samples, "bifrost_success_requests_total", model="other") == 3
    tenants = values(samples, "bifrost_success_requests_total", "tenant")
    assert len(tenants) == 4 and "other" in tenants
    assert max(len(tenant) for tenant in tenants) == 100


async def test_the_admin_token_guards_metrics(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    gw = await make_gateway(metrics_config(fake_upstream.url))
    async with gw.http(None) as http:
        for headers in (None, bearer("wrong"), bearer(VK_A), {"Authorization": f"Basic {ADMIN}"}):
            answer = await http.get("/metrics", headers, key=None)
            assert_openai_error(answer, 401, "authentication_error")
            assert ADMIN not in answer.body.decode()
        samples = await scrape(http)
    assert total(samples, "http_requests_total", path="/metrics", status="401") == 4


async def test_without_an_admin_token_metrics_are_open(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    cfg = metrics_config(fake_upstream.url)
    del cfg["governance"]["auth_config"]
    gw = await make_gateway(cfg)
    async with gw.http(None) as http:
        samples = await scrape(http, token=None)
    assert total(samples, "bifrost_success_requests_total") == 0


async def test_a_metrics_port_of_its_own(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.default("/v1/messages", Reply.json(anthropic_message("hi")))
    port = _free_port()
    gw = await make_gateway(metrics_config(fake_upstream.url, plugin={"port": port}))
    async with gw.anthropic(api_key=VK_A) as claude, gw.http(None) as http:
        await claude.messages.create(model="anthropic/claude-x", max_tokens=16, messages=HI)
        moved = await http.get("/metrics", bearer(ADMIN), key=None)
    assert_openai_error(moved, 404, "not_found_error")
    answer = await get_once(f"http://127.0.0.1:{port}/metrics")  # open: no token
    assert answer.status == 200
    assert total(parse(answer.body.decode()), "http_requests_total", path="/anthropic/v1/messages") == 1


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (["provider"], "$.client.prometheus_labels: 'provider' is a label of its own"),
        (["Tenant-Name"], "$.client.prometheus_labels[0]"),
    ],
)
async def test_bad_custom_labels_are_config_errors(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, labels: list[str], expected: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        await make_gateway(metrics_config(fake_upstream.url, prometheus_labels=labels))
    assert expected in str(raised.value)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
