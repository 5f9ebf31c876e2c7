"""Prompt-cache auto-injection (`providers.<name>.prompt_cache`, header `x-bf-prompt-cache-auto-inject`): where the
markers go, the four-marker cap with the client's own counted first, only for providers that act on markers,
decided again for each fallback target, and a relayed body otherwise unchanged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.testing import (
    FakeUpstream,
    Reply,
    anthropic_message,
    anthropic_sse,
    assert_anthropic_error,
    assert_openai_error,
    openai_completion,
)
from tests.conftest import MakeGateway, upstream_config
from tests.fakes.bedrock import BEDROCK_MODEL, converse_path, converse_response, json_reply
from tests.http.test_provider_bedrock import bedrock_config

MESSAGES, CHAT = "/v1/messages", "/v1/chat/completions"
HEADER = "x-bf-prompt-cache-auto-inject"
FIVE = {"type": "ephemeral", "ttl": "5m"}
HOUR = {"type": "ephemeral", "ttl": "1h"}
TOOL = {"name": "lookup", "input_schema": {"type": "object"}, "beta_field": {"kept": True}}
CONVERSATION: list[dict[str, Any]] = [
    {"role": "user", "content": "Here is a long document."},
    {"role": "assistant", "content": [{"type": "text", "text": "Read it."}]},
    {"role": "user", "content": [{"type": "text", "text": "Summarise it.", "unknown_block_field": 1}]},
]


def gateway_config(url: str, prompt_cache: dict[str, Any] | None = None) -> dict[str, Any]:
    config = upstream_config(url)
    if prompt_cache is not None:
        config["providers"]["anthropic"]["prompt_cache"] = prompt_cache
    return config


def body(model: str = "anthropic/claude-x", **fields: Any) -> dict[str, Any]:
    return {"model": model, "max_tokens": 32, "system": "Be brief.", "messages": CONVERSATION, **fields}


async def sent_to_anthropic(
    make_gateway: MakeGateway,
    fake: FakeUpstream,
    prompt_cache: dict[str, Any] | None,
    request: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    fake.default(MESSAGES, Reply.json(anthropic_message()))
    gateway = await make_gateway(gateway_config(fake.url, prompt_cache))
    async with gateway.http() as http:
        answer = await http.post("/anthropic/v1/messages", request, headers)
    assert answer.status == 200, answer.body
    [sent] = fake.requests_to(MESSAGES)
    result: dict[str, Any] = sent.json
    return result


async def test_default_points_mark_the_system_prompt_and_the_conversation(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    request = body(tools=[TOOL], beta_top_level={"x": 1})
    sent = await sent_to_anthropic(make_gateway, fake_upstream, {"auto_inject": True}, request)
    assert sent["system"] == [{"type": "text", "text": "Be brief.", "cache_control": FIVE}]
    last = sent["messages"][-1]["content"]
    assert last == [{"type": "text", "text": "Summarise it.", "unknown_block_field": 1, "cache_control": FIVE}]
    # The rest of the relayed body is as the client wrote it, unknown fields included.
    assert sent["messages"][:2] == CONVERSATION[:2]
    assert sent["tools"] == [TOOL] and sent["beta_top_level"] == {"x": 1}


async def test_points_ttl_roles_and_negative_indexes(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    points = [
        {"location": "tools"},
        {"location": "message", "role": "user", "index": 0},
        {"location": "message", "index": -2},
        {"location": "message", "index": 7},  # no such message: skipped
    ]
    config = {"auto_inject": True, "ttl": "1h", "cache_control_injection_points": points}
    sent = await sent_to_anthropic(make_gateway, fake_upstream, config, body(tools=[TOOL]))
    assert sent["tools"] == [{**TOOL, "cache_control": HOUR}]
    assert sent["messages"][0]["content"] == [
        {"type": "text", "text": "Here is a long document.", "cache_control": HOUR}
    ]
    assert sent["messages"][1]["content"] == [{"type": "text", "text": "Read it.", "cache_control": HOUR}]
    assert "cache_control" not in json.dumps(sent["messages"][2]) and sent["system"] == "Be brief."


def _client_marked(count: int) -> list[dict[str, Any]]:
    blocks = [{"type": "text", "text": f"part {i}", "cache_control": {"type": "ephemeral"}} for i in range(count)]
    return [{"role": "user", "content": [*blocks, {"type": "text", "text": "question"}]}]


@pytest.mark.parametrize(("client", "injected"), [(0, 2), (3, 1), (4, 0)])
async def test_never_more_than_four_markers_the_clients_first(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, client: int, injected: int
) -> None:
    request = body(messages=_client_marked(client))
    sent = await sent_to_anthropic(make_gateway, fake_upstream, {"auto_inject": True}, request)
    text = json.dumps(sent)
    assert text.count('"cache_control"') == client + injected
    assert text.count('"ttl": "5m"') == injected
    assert (sent["system"] != "Be brief.") == (injected > 0)  # the first point (system) comes first


@pytest.mark.parametrize(
    ("configured", "header", "marked"),
    [(True, "false", False), (False, "true", True), (None, "TRUE", True), (True, None, True), (False, None, False)],
)
async def test_the_header_overrides_the_config(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, configured: bool | None, header: str | None, marked: bool
) -> None:
    config = None if configured is None else {"auto_inject": configured}
    headers = {HEADER: header} if header is not None else None
    sent = await sent_to_anthropic(make_gateway, fake_upstream, config, body(), headers)
    assert ('"cache_control"' in json.dumps(sent)) == marked


async def test_a_bad_header_is_a_400_in_the_clients_dialect(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    gateway = await make_gateway(gateway_config(fake_upstream.url))
    async with gateway.http() as http:
        answer = await http.post("/anthropic/v1/messages", body(), {HEADER: "sometimes"})
        assert_anthropic_error(answer, 400, "invalid_request_error", HEADER)
    chat = {"model": "anthropic/claude-x", "messages": [{"role": "user", "content": "hi"}]}
    async with gateway.http(bearer=True) as http:
        answer = await http.post(CHAT, chat, {HEADER: "yes"})
        assert_openai_error(answer, 400, "invalid_request_error", HEADER)
    assert not fake_upstream.requests


async def test_openai_clients_get_markers_on_anthropic_only_and_per_fallback(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    """The OpenAI target is tried first (and fails), then the Anthropic fallback gets the markers."""
    fake_upstream.script(CHAT, Reply.error(503, "server_error", "down", dialect="openai"))
    fake_upstream.script(MESSAGES, Reply.json(anthropic_message()))
    config = gateway_config(fake_upstream.url, {"auto_inject": True})
    config["providers"]["openai"]["prompt_cache"] = {"auto_inject": True}
    gateway = await make_gateway(config)
    chat = {
        "model": "openai/gpt-x",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        "fallbacks": ["anthropic/claude-x"],
    }
    async with gateway.http(bearer=True) as http:
        answer = await http.post(CHAT, chat)
    assert answer.status == 200, answer.body
    [to_openai] = fake_upstream.requests_to(CHAT)
    assert b"cache_control" not in to_openai.body
    [to_anthropic] = fake_upstream.requests_to(MESSAGES)
    assert to_anthropic.json["system"] == [{"type": "text", "text": "Be brief.", "cache_control": FIVE}]
    assert to_anthropic.json["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": FIVE}]}
    ]


async def test_no_markers_for_openai_even_when_asked(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.default(CHAT, Reply.json(openai_completion("ok")))
    gateway = await make_gateway(gateway_config(fake_upstream.url))
    raw = json.dumps({"model": "openai/gpt-x", "messages": [{"role": "user", "content": "hi"}]}).encode()
    async with gateway.http(bearer=True) as http:
        answer = await http.post(CHAT, raw, {HEADER: "true"})
    assert answer.status == 200
    [sent] = fake_upstream.requests_to(CHAT)
    assert b"cache_control" not in sent.body and sent.json["messages"] == [{"role": "user", "content": "hi"}]


async def test_bedrock_gets_cache_points(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(converse_path(), json_reply(converse_response("ok")))
    config = bedrock_config(fake_upstream.url)
    config["providers"]["bedrock"]["prompt_cache"] = {"auto_inject": True, "ttl": "1h"}
    gateway = await make_gateway(config)
    async with gateway.http() as http:
        answer = await http.post("/anthropic/v1/messages", body(model=f"bedrock/{BEDROCK_MODEL}"))
    assert answer.status == 200, answer.body
    [sent] = fake_upstream.requests_to(converse_path())
    point = {"cachePoint": {"type": "default", "ttl": "1h"}}
    assert sent.json["system"] == [{"text": "Be brief."}, point]
    assert sent.json["messages"][-1]["content"] == [{"text": "Summarise it."}, point]


def test_check_config_names_a_bad_prompt_cache_field(tmp_path: Path) -> None:
    config = gateway_config("http://127.0.0.1:9", {"ttl": "2h", "cache_control_injection_points": [{"location": "x"}]})
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "$.providers.anthropic.prompt_cache.ttl" in done.stderr + done.stdout
    assert "$.providers.anthropic.prompt_cache.cache_control_injection_points[0].location" in done.stderr + done.stdout


async def test_streams_get_the_markers_too(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.default(MESSAGES, Reply.sse(anthropic_sse(("o", "k"))))
    gateway = await make_gateway(gateway_config(fake_upstream.url, {"auto_inject": True, "ttl": "1h"}))
    async with gateway.anthropic() as client:
        async with client.messages.stream(
            model="anthropic/claude-x", max_tokens=32, system="Be brief.", messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            assert await stream.get_final_text() == "ok"
    [sent] = fake_upstream.requests_to(MESSAGES)
    assert sent.json["stream"] is True
    assert sent.json["system"] == [{"type": "text", "text": "Be brief.", "cache_control": HOUR}]
    assert sent.json["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": HOUR}]}
    ]
