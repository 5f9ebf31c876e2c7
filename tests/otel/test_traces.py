"""The `otel` plugin end to end: calls through the official SDKs, spans exported over OTLP/HTTP to an in-process
receiver (decoded with opentelemetry-proto). The caller's trace is joined, the upstream gets the attempt's
`traceparent`, the GenAI attributes are there; unconfigured, nothing is exported and no hook is registered."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from gateway.keys import PLUGINS
from gateway.testing import (
    FakeUpstream,
    Http,
    Reply,
    anthropic_message,
    anthropic_sse,
    anthropic_usage,
    openai_completion,
    serve_gateway,
    upstream_config,
)
from gateway_plugins.otel import HOOKS_NAME
from tests.cache.helpers import CLAUDE, KEY, UP_MESSAGES, cache_config, stored
from tests.mcp.helpers import mcp_config, stdio_client

from .receiver import OtlpReceiver

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
UP_CHAT = "/v1/chat/completions"
HI: list[Any] = [{"role": "user", "content": "hi"}]


def traced(config: dict[str, Any], receiver: OtlpReceiver, **otel: Any) -> dict[str, Any]:
    entry = {"name": "otel", "config": {"collector_url": receiver.url, **otel}}
    return {**config, "plugins": [*config.get("plugins", []), entry]}


def assert_has(attributes: dict[str, Any], expected: dict[str, Any]) -> None:
    assert {name: attributes.get(name) for name in expected} == expected


async def test_a_call_joins_the_callers_trace_and_carries_it_upstream(fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(
        UP_CHAT,
        Reply.json(openai_completion("hello", usage={"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18})),
    )
    async with OtlpReceiver() as receiver:
        async with serve_gateway(traced(upstream_config(fake_upstream.url), receiver, service_name="gw-test")) as gw:
            headers = {"traceparent": TRACEPARENT, "x-bf-dim-team": "blue"}
            async with gw.openai(default_headers=headers) as client:
                answer = await client.chat.completions.create(
                    model="openai/gpt-x", messages=HI, max_tokens=20, temperature=0.5
                )
            assert answer.choices[0].message.content == "hello"
        # the gateway stopped: its provider flushed every span
    server, client_span = receiver.one("server"), receiver.one("client")
    assert (server.trace_id, server.parent_span_id) == (TRACE_ID, PARENT_ID)
    assert server.service_name == "gw-test" and server.name == "chat openai/gpt-x"
    assert_has(
        server.attributes,
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "openai/gpt-x",
            "gen_ai.request.max_tokens": 20,
            "gen_ai.request.temperature": 0.5,
            "gen_ai.usage.input_tokens": 11,
            "gen_ai.usage.output_tokens": 7,
            "gen_ai.response.model": "gpt-x",
            "gen_ai.system": "openai",
            "gen_ai.dimension.team": "blue",
            "gateway.dialect": "openai",
            "gateway.fallback_index": 0,
            "gateway.attempts": 1,
        },
    )
    assert (client_span.trace_id, client_span.parent_span_id) == (TRACE_ID, server.span_id)
    assert_has(
        client_span.attributes,
        {
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-x",
            "gen_ai.usage.input_tokens": 11,
        },
    )
    assert server.start_ns <= client_span.start_ns <= client_span.end_ns <= server.end_ns
    sent = fake_upstream.requests_to(UP_CHAT)[0].headers
    assert sent["traceparent"] == f"00-{TRACE_ID}-{client_span.span_id}-01"
    assert sent["authorization"].startswith("Bearer sk-")  # the provider's own headers are still there


async def test_fallback_attempts_are_spans_of_their_own_in_a_new_trace(fake_upstream: FakeUpstream) -> None:
    """No traceparent from the caller: a root span. The primary fails (500, no retries), the fallback serves."""
    fake_upstream.script(UP_CHAT, Reply.json({"error": {"message": "down", "type": "server_error"}}, status=500))
    fake_upstream.script(UP_MESSAGES, Reply.json(anthropic_message("from claude", usage=anthropic_usage(5, 3))))
    config = upstream_config(fake_upstream.url)
    config["providers"]["openai"]["network_config"]["max_retries"] = 0
    async with OtlpReceiver() as receiver:
        async with serve_gateway(traced(config, receiver)) as gw:
            async with Http(gw.url, bearer=True) as http:
                body = {"model": "openai/gpt-x", "messages": HI, "fallbacks": ["anthropic/claude-y"]}
                assert (await http.post("/v1/chat/completions", body)).status == 200
    server = receiver.one("server")
    assert server.parent_span_id == "" and server.status_code != 2
    assert server.attributes["gateway.fallback_index"] == 1 and server.attributes["gen_ai.system"] == "anthropic"
    attempts = sorted((s for s in receiver.spans if s.kind == "client"), key=lambda s: s.start_ns)
    assert [(s.attributes["gen_ai.system"], s.status_code) for s in attempts] == [("openai", 2), ("anthropic", 0)]
    assert all(s.parent_span_id == server.span_id for s in attempts)
    assert attempts[1].attributes["gen_ai.usage.output_tokens"] == 3
    assert fake_upstream.requests_to(UP_MESSAGES)[0].headers["traceparent"].split("-")[2] == attempts[1].span_id


async def test_an_error_marks_the_request_span(fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(
        UP_MESSAGES,
        Reply.json({"type": "error", "error": {"type": "invalid_request_error", "message": "no"}}, status=400),
    )
    async with OtlpReceiver() as receiver:
        async with serve_gateway(traced(upstream_config(fake_upstream.url), receiver)) as gw:
            async with gw.anthropic() as client:
                with pytest.raises(anthropic.BadRequestError):
                    await client.messages.create(model="claude-y", max_tokens=16, messages=HI)
    server, attempt = receiver.one("server"), receiver.one("client")
    assert server.status_code == 2 and attempt.status_code == 2
    assert server.attributes["error.type"] == "invalid_request_error"
    assert server.attributes["http.response.status_code"] == 400


async def test_a_stream_records_its_usage_on_the_spans(fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(UP_MESSAGES, Reply.sse(anthropic_sse("streamed", usage=anthropic_usage(9, 4))))
    async with OtlpReceiver() as receiver:
        async with serve_gateway(traced(upstream_config(fake_upstream.url), receiver)) as gw:
            async with gw.anthropic(default_headers={"traceparent": TRACEPARENT}) as client:
                async with client.messages.stream(model="claude-y", max_tokens=16, messages=HI) as stream:
                    assert await stream.get_final_text() == "streamed"
    server, attempt = receiver.one("server"), receiver.one("client")
    assert server.trace_id == TRACE_ID and server.attributes["gateway.stream"] is True
    assert attempt.attributes["gen_ai.usage.input_tokens"] == 9
    assert attempt.attributes["gen_ai.usage.output_tokens"] == 4


async def test_a_cache_hit_is_a_lookup_span_and_no_attempt(fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(UP_MESSAGES, Reply.json(anthropic_message("cached", usage=anthropic_usage(5, 3))))
    async with OtlpReceiver() as receiver:
        async with serve_gateway(traced(cache_config(fake_upstream.url), receiver)) as gw:
            async with gw.anthropic(default_headers=KEY) as client:
                await client.messages.create(model=CLAUDE, max_tokens=16, messages=HI)
                await stored(gw, 1)
                await client.messages.create(model=CLAUDE, max_tokens=16, messages=HI)
    servers = sorted((s for s in receiver.spans if s.kind == "server"), key=lambda s: s.start_ns)
    assert [s.attributes.get("gateway.cache.hit") for s in servers] == [None, True]
    lookup = receiver.named("cache lookup")
    assert len(lookup) == 1 and lookup[0].parent_span_id == servers[1].span_id
    assert len([s for s in receiver.spans if s.kind == "client"]) == 1  # only the first call went upstream


@pytest.mark.parametrize("entry", [None, {"name": "otel", "enabled": False}, {"name": "otel", "config": {}}])
async def test_unconfigured_it_registers_nothing_and_exports_nothing(
    fake_upstream: FakeUpstream, entry: dict[str, Any] | None
) -> None:
    fake_upstream.script(UP_CHAT, Reply.json(openai_completion("hello")))
    config = upstream_config(fake_upstream.url)
    if entry is not None:
        config["plugins"] = [entry]
    async with OtlpReceiver() as receiver:
        async with serve_gateway(config) as gw:
            assert gw.app[PLUGINS].pm.get_plugin(HOOKS_NAME) is None
            async with gw.openai(default_headers={"traceparent": TRACEPARENT}) as client:
                await client.chat.completions.create(model="openai/gpt-x", messages=HI)
    assert receiver.exports == []
    assert "traceparent" not in fake_upstream.requests_to(UP_CHAT)[0].headers


async def test_collector_headers_are_sent_and_a_bad_url_is_a_config_error(fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(UP_CHAT, Reply.json(openai_completion("hello")))
    async with OtlpReceiver() as receiver:
        config = traced(upstream_config(fake_upstream.url), receiver, headers={"authorization": "Bearer otel-secret"})
        async with serve_gateway(config) as gw:
            async with gw.openai() as client:
                await client.chat.completions.create(model="openai/gpt-x", messages=HI)
    assert receiver.exports and all(e.get("Authorization") == "Bearer otel-secret" for e in receiver.exports)
    bad = traced(upstream_config(fake_upstream.url), receiver)
    bad["plugins"][0]["config"]["collector_url"] = "collector:4318"
    with pytest.raises(Exception, match="collector_url 'collector:4318' is not an http"):
        async with serve_gateway(bad):
            pass


async def test_an_mcp_tool_call_is_a_span_in_the_callers_trace(fake_upstream: FakeUpstream) -> None:
    config = mcp_config(fake_upstream, stdio_client())
    call = {"id": "call_1", "type": "function", "function": {"name": "local-echo", "arguments": '{"text": "hi"}'}}
    async with OtlpReceiver() as receiver:
        async with serve_gateway(traced(config, receiver)) as gw:
            async with gw.http() as http:
                answer = await http.post("/v1/mcp/tool/execute", call, {"traceparent": TRACEPARENT})
                assert answer.status == 200, answer
    (span,) = receiver.named("execute_tool ")
    assert (span.trace_id, span.parent_span_id, span.status_code) == (TRACE_ID, PARENT_ID, 0)
    assert_has(
        span.attributes,
        {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "local-echo", "gateway.mcp.via": "execute"},
    )
    assert span.end_ns > span.start_ns
