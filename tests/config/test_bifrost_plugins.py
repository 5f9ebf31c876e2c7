"""Bifrost's own switches for what our plugins serve: `client.enable_logging` turns the request log on, and a
`telemetry` plugin entry is our `metrics` plugin (its Bifrost config dropped with a warning)."""

from __future__ import annotations

from typing import Any

from gateway.loading import check_settings
from gateway.testing import FakeUpstream, Http, MakeGateway, Reply, openai_completion, upstream_config
from tests.http.governance_helpers import ADMIN as METRICS_ADMIN
from tests.metrics.helpers import scrape_until, total
from tests.request_log.helpers import ADMIN, AUTH, rows, written

CHAT = "/v1/chat/completions"


def bifrost(url: str, plugins: list[dict[str, Any]], admin: str = ADMIN, **client: Any) -> dict[str, Any]:
    return {**upstream_config(url, **client), "plugins": plugins, "governance": {"auth_config": {"admin_token": admin}}}


async def chat(gw_url: str) -> None:
    async with Http(gw_url, None) as http:
        body = {"model": "openai/gpt-x", "messages": [{"role": "user", "content": "hi"}]}
        answer = await http.post("/v1/chat/completions", body)
        assert answer.status == 200, answer


async def test_client_enable_logging_turns_the_request_log_on(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default(CHAT, Reply.json(openai_completion("logged")))
    gw = await make_gateway(bifrost(fake_upstream.url, [], enable_logging=True))
    await chat(gw.url)
    await written(gw, 1)
    assert [row["model"] for row in await rows(gw)] == ["openai/gpt-x"]


async def test_a_logging_entry_decides_over_client_enable_logging(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    gw = await make_gateway(bifrost(fake_upstream.url, [{"name": "logging", "enabled": False}], enable_logging=True))
    async with Http(gw.url, None) as http:
        assert (await http.get("/api/logs", AUTH)).status == 404


async def test_bifrosts_telemetry_entry_is_served_by_the_metrics_plugin(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default(CHAT, Reply.json(openai_completion("counted")))
    entry = {"name": "telemetry", "enabled": True, "config": {"push_gateway": {"enabled": False}}}
    gw = await make_gateway(bifrost(fake_upstream.url, [entry], admin=METRICS_ADMIN))
    await chat(gw.url)
    async with Http(gw.url, None) as http:
        samples = await scrape_until(http, lambda got: total(got, "bifrost_upstream_requests_total") > 0)
    assert total(samples, "bifrost_upstream_requests_total", provider="openai") == 1


def test_the_warnings_name_what_a_telemetry_entry_loses() -> None:
    alone = {"providers": {"mock": {}}, "plugins": [{"name": "telemetry", "config": {"push_gateway": {}}}]}
    loaded = check_settings(alone)
    settings, warnings = loaded.settings, loaded.warnings
    assert [(p.name, p.config) for p in settings.plugins] == [("metrics", {})]
    assert any(w.startswith("$.plugins[0].config") for w in warnings), warnings
    beside = {"providers": {"mock": {}}, "plugins": [{"name": "metrics"}, {"name": "telemetry"}]}
    loaded = check_settings(beside)
    settings, warnings = loaded.settings, loaded.warnings
    assert [p.name for p in settings.plugins] == ["metrics", "telemetry"]  # the alias stays, ignored
    assert any(w.startswith("$.plugins[1] (telemetry, beside a `metrics` entry)") for w in warnings), warnings
