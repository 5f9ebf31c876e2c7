"""/metrics after scripted traffic through the official SDKs, read with prometheus_client's parser: Bifrost's
names, the base labels (provider, model, virtual_key_name, team, fallback_index), tokens, cost, errors, cache hits,
HTTP counts and the timing histograms."""

from __future__ import annotations

import anthropic
import openai
import pytest
from anthropic.types import MessageParam
from openai.types.chat import ChatCompletionMessageParam

from gateway.keys import PLUGINS
from gateway.testing import (
    FakeUpstream,
    Reply,
    anthropic_message,
    anthropic_usage,
    openai_completion,
    openai_sse,
    openai_usage,
)
from gateway_plugins.metrics import HOOKS_NAME, SERIES
from tests.cache.helpers import stored
from tests.conftest import MakeGateway
from tests.http.governance_helpers import ADMIN, providers, vk

from .helpers import VK_A, metrics_config, scrape, scrape_until, total, values

HI: list[MessageParam] = [{"role": "user", "content": "hi"}]
HI_CHAT: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
CLAUDE = {"provider": "anthropic", "model": "claude-x", "virtual_key_name": "vk-a", "team": "t-1"}
GPT = {"provider": "openai", "model": "gpt-x", "virtual_key_name": "vk-a", "team": "t-1"}
USAGE = anthropic_usage(10, 5, cache_read_input_tokens=4)


async def test_calls_counted_with_tokens_cost_and_timings(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default("/v1/messages", Reply.json(anthropic_message("hello", usage=USAGE)))
    fake_upstream.default("/v1/chat/completions", Reply.sse(openai_sse(("a", "b"), usage=openai_usage(7, 3))))
    gw = await make_gateway(metrics_config(fake_upstream.url))
    async with gw.anthropic(api_key=VK_A) as claude, gw.openai(api_key=VK_A) as gpt, gw.http(None) as http:
        for _ in range(2):
            await claude.messages.create(model="anthropic/claude-x", max_tokens=16, messages=HI)
        stream = await gpt.chat.completions.create(
            model="openai/gpt-x", messages=HI_CHAT, stream=True, stream_options={"include_usage": True}
        )
        async for _ in stream:
            pass
        samples = await scrape_until(http, lambda s: total(s, "bifrost_success_requests_total") == 3)
    assert total(samples, "bifrost_success_requests_total", **CLAUDE, fallback_index="0") == 2
    assert total(samples, "bifrost_upstream_requests_total", **CLAUDE) == 2
    assert total(samples, "bifrost_input_tokens_total", **CLAUDE) == 2 * (10 + 4)  # cache reads are prompt too
    assert total(samples, "bifrost_output_tokens_total", **CLAUDE) == 2 * 5
    # governance_helpers' prices: 1e-6 in, 2e-6 out; cache reads at a tenth of the input price
    assert total(samples, "bifrost_cost_total", **CLAUDE) == pytest.approx(2 * (10e-6 + 4e-7 + 10e-6))
    assert total(samples, "bifrost_input_tokens_total", **GPT) == 7
    assert total(samples, "bifrost_output_tokens_total", **GPT) == 3
    assert total(samples, "bifrost_cost_total", **GPT) == pytest.approx(7e-6 + 6e-6)
    assert total(samples, "bifrost_error_requests_total") == 0
    # Timing: every call's overhead and upstream latency, only the stream's first token.
    assert total(samples, "bifrost_overhead_latency_microseconds_count", **CLAUDE) == 2
    assert total(samples, "bifrost_overhead_latency_microseconds_count", **GPT) == 1
    assert 0 < total(samples, "bifrost_overhead_latency_microseconds_sum") < 3 * 1_000_000
    assert total(samples, "bifrost_upstream_latency_seconds_count") == 3
    assert total(samples, "bifrost_stream_first_token_latency_seconds_count", **GPT) == 1
    assert total(samples, "bifrost_stream_first_token_latency_seconds_count", **CLAUDE) == 0
    # HTTP metrics: the route's template, the method and the status.
    http_claude = {"path": "/anthropic/v1/messages", "method": "POST", "status": "200"}
    assert total(samples, "http_requests_total", **http_claude) == 2
    assert total(samples, "http_request_duration_seconds_count", path="/v1/chat/completions", status="200") == 1
    assert total(samples, "bifrost_active_requests") == 0


async def test_errors_by_status_code_and_type(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.default("/v1/messages", Reply.error(429, "rate_limit_error", "slow down", dialect="anthropic"))
    key = vk("vk-a", VK_A, team_id="t-1", provider_configs=providers("anthropic"))
    gw = await make_gateway(metrics_config(fake_upstream.url, key))
    async with gw.anthropic(api_key=VK_A, max_retries=0) as claude, gw.http(None) as http:
        with pytest.raises(anthropic.RateLimitError):
            await claude.messages.create(model="anthropic/claude-x", max_tokens=16, messages=HI)
        with pytest.raises(anthropic.PermissionDeniedError):  # the key may not use openai: refused before the call
            await claude.messages.create(model="openai/gpt-x", max_tokens=16, messages=HI)
        samples = await scrape_until(http, lambda s: total(s, "bifrost_error_requests_total") == 2)
    limited = {**CLAUDE, "status_code": "429", "error_type": "rate_limit_error"}
    assert total(samples, "bifrost_error_requests_total", **limited) == 1
    refused = {"provider": "", "virtual_key_name": "vk-a", "status_code": "403", "error_type": "permission_error"}
    assert total(samples, "bifrost_error_requests_total", **refused) == 1
    assert total(samples, "bifrost_upstream_requests_total", **CLAUDE) == 1  # the refused call never went up
    assert total(samples, "bifrost_upstream_requests_total") == 1
    assert total(samples, "bifrost_success_requests_total") == 0
    assert total(samples, "http_requests_total", path="/anthropic/v1/messages", status="429") == 1
    assert total(samples, "http_requests_total", path="/anthropic/v1/messages", status="403") == 1


async def test_a_fallback_is_labelled_with_its_index(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.default("/v1/messages", Reply.error(503, "overloaded_error", "busy", dialect="anthropic"))
    fake_upstream.default("/v1/chat/completions", Reply.json(openai_completion("from gpt", usage=openai_usage(3, 2))))
    gw = await make_gateway(metrics_config(fake_upstream.url))
    async with gw.anthropic(api_key=VK_A, max_retries=0) as claude, gw.http(None) as http:
        message = await claude.messages.create(
            model="anthropic/claude-x", max_tokens=16, messages=HI, extra_body={"fallbacks": ["openai/gpt-x"]}
        )
        assert message.content[0].text == "from gpt"  # type: ignore[union-attr]
        samples = await scrape_until(http, lambda s: total(s, "bifrost_success_requests_total") == 1)
    assert total(samples, "bifrost_success_requests_total", **GPT, fallback_index="1") == 1
    assert total(samples, "bifrost_input_tokens_total", **GPT, fallback_index="1") == 3
    assert total(samples, "bifrost_error_requests_total") == 0  # the call succeeded: its primary's failure is not one


async def test_cache_hits_by_cache_type(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.default("/v1/messages", Reply.json(anthropic_message("cached", usage=USAGE)))
    cfg = metrics_config(fake_upstream.url)
    cfg["plugins"].append({"name": "semantic_cache", "config": {}})
    gw = await make_gateway(cfg)
    headers = {"x-bf-cache-key": "docs"}
    async with gw.anthropic(api_key=VK_A, default_headers=headers) as claude, gw.http(None) as http:
        await claude.messages.create(model="anthropic/claude-x", max_tokens=16, messages=HI)
        await stored(gw, 1)  # the answer is stored off the request's path
        raw = await claude.messages.with_raw_response.create(model="anthropic/claude-x", max_tokens=16, messages=HI)
        assert raw.headers["x-bf-cache-hit"] == "direct"
        samples = await scrape_until(http, lambda s: total(s, "bifrost_cache_hits_total") >= 1)
    hits = total(samples, "bifrost_cache_hits_total", cache_type="direct", model="anthropic/claude-x", team="t-1")
    assert hits == 1
    assert total(samples, "bifrost_success_requests_total") == 1  # the hit is not a call answered upstream
    assert total(samples, "http_requests_total", path="/anthropic/v1/messages", status="200") == 2


async def test_unconfigured_there_is_no_metrics_route(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    cfg = metrics_config(fake_upstream.url)
    del cfg["plugins"]
    gw = await make_gateway(cfg)
    async with gw.http(None) as http:
        answer = await http.get("/metrics", {"Authorization": f"Bearer {ADMIN}"})
    assert answer.status == 404
    assert SERIES not in gw.app  # no registry, no middleware
    assert gw.app[PLUGINS].pm.get_plugin(HOOKS_NAME) is None  # no request hook


async def test_an_openai_client_error_is_counted_once(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    gw = await make_gateway(metrics_config(fake_upstream.url))
    async with gw.openai(api_key="sk-bf-not-a-key") as gpt, gw.http(None) as http:
        with pytest.raises(openai.AuthenticationError):
            await gpt.chat.completions.create(model="openai/gpt-x", messages=HI_CHAT)
        samples = await scrape(http)
    assert total(samples, "http_requests_total", path="/v1/chat/completions", status="401") == 1
    assert values(samples, "http_requests_total", "method") <= {"GET", "POST"}
