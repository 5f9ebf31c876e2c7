"""Adaptation for OpenAI clients (their body relayed, patched only where a rule fired), the strict mode
(`client.drop_unsupported_params: false`), media a model cannot read, and fallbacks adapted per target."""

from __future__ import annotations

import hashlib
import json

import pytest

from gateway.testing import (
    Gateway,
    Reply,
    anthropic_message,
    assert_anthropic_error,
    assert_openai_error,
    openai_completion,
    openai_sse,
)
from tests.adaptation.helpers import CHAT, MESSAGES, Upstreams, sent

GW_CHAT = "/openai/v1/chat/completions"
GW_MESSAGES = "/anthropic/v1/messages"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


def chat(model: str, **fields: object) -> bytes:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "x_vendor_field": {"kept": True}}
    return json.dumps(body | fields, separators=(",", ":")).encode()


async def test_openai_client_body_is_patched_not_rebuilt(gw: Gateway, up: Upstreams) -> None:
    long_user = "u" * 100
    raw = chat("gpt-4o-mini", max_completion_tokens=50_000, reasoning_effort="low", user=long_user, seed=7)
    up.openai.script(CHAT, Reply.json(openai_completion("ok")))
    async with gw.http(bearer=True) as http:
        answer = await http.post(GW_CHAT, raw)
    assert answer.status == 200, answer.body
    assert answer.headers["x-bf-adapted"] == "reasoning_effort,max_completion_tokens,user"
    expected = json.loads(raw) | {
        "max_completion_tokens": 16384,
        "user": hashlib.sha256(long_user.encode()).hexdigest(),
    }
    del expected["reasoning_effort"]  # gpt-4o-mini does not reason
    assert sent(up.openai, CHAT) == expected


async def test_openai_client_within_limits_is_relayed_byte_exact(gw: Gateway, up: Upstreams) -> None:
    raw = chat("gpt-4o-mini", max_completion_tokens=1000, temperature=0.3)
    up.openai.script(CHAT, Reply.json(openai_completion("ok")))
    async with gw.http(bearer=True) as http:
        answer = await http.post(GW_CHAT, raw)
    assert answer.status == 200 and "x-bf-adapted" not in answer.headers
    assert up.openai.requests_to(CHAT)[-1].body == raw


@pytest.mark.parametrize(
    ("model", "sent_effort", "expected"),
    [
        ("gpt-5", "none", "minimal"),
        ("o3", "minimal", "low"),
        ("gpt-5.1", "minimal", "none"),
        ("o4-mini", "xhigh", "high"),
    ],
)
async def test_openai_effort_words_mapped_per_model(
    gw: Gateway, up: Upstreams, model: str, sent_effort: str, expected: str
) -> None:
    up.openai.script(CHAT, Reply.json(openai_completion("ok")))
    async with gw.http(bearer=True) as http:
        answer = await http.post(GW_CHAT, chat(model, reasoning_effort=sent_effort))
    assert answer.status == 200, answer.body
    assert answer.headers["x-bf-adapted"] == "reasoning_effort"
    assert sent(up.openai, CHAT)["reasoning_effort"] == expected


async def test_sdk_stream_from_o3_without_temperature(gw: Gateway, up: Upstreams) -> None:
    up.openai.script(CHAT, Reply.sse(openai_sse(("He", "llo"))))
    async with gw.openai() as client:
        response = await client.chat.completions.with_raw_response.create(
            model="openai/o3", messages=[{"role": "user", "content": "hi"}], temperature=0.5, top_p=0.9, stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in response.parse() if c.choices])
    assert text == "Hello"
    assert response.headers["x-bf-adapted"] == "temperature,top_p"
    upstream = sent(up.openai, CHAT)
    assert "temperature" not in upstream and "top_p" not in upstream


async def test_anthropic_client_to_a_text_only_model_gets_a_400(gw: Gateway, up: Upstreams) -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    content = [image, {"type": "text", "text": "what is this?"}]
    body = {"model": "openai/o3-mini", "max_tokens": 100, "messages": [{"role": "user", "content": content}]}
    async with gw.http() as http:
        answer = await http.post(GW_MESSAGES, body)
    assert_anthropic_error(answer, 400, "invalid_request_error", "openai/o3-mini", "images")
    assert up.openai.requests == []  # refused before the upstream


async def test_openai_client_pdf_to_a_model_without_pdfs(gw: Gateway, up: Upstreams) -> None:
    pdf = {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0xLjQK"}}
    raw = chat("local/qwen3-coder", messages=[{"role": "user", "content": [pdf, {"type": "text", "text": "sum"}]}])
    async with gw.http(bearer=True) as http:
        answer = await http.post("/v1/chat/completions", raw)
    assert_openai_error(answer, 400, "invalid_request_error", "local/qwen3-coder", "PDF")
    assert up.local.requests == []


async def test_strict_mode_refuses_what_it_would_drop_in_the_clients_words(strict: Gateway, up: Upstreams) -> None:
    async with strict.http(bearer=True) as http:
        openai_answer = await http.post(GW_CHAT, chat("gpt-4o-mini", reasoning_effort="high"))
    assert_openai_error(openai_answer, 400, "invalid_request_error", "reasoning_effort", "does not reason")
    assert openai_answer.json()["error"]["param"] == "reasoning_effort"
    body = {"model": "openai/gpt-4o-mini", "max_tokens": 20_000, "messages": [{"role": "user", "content": "hi"}]}
    async with strict.http() as http:
        anthropic_answer = await http.post(GW_MESSAGES, body)
    assert_anthropic_error(anthropic_answer, 400, "invalid_request_error", "max_tokens", "16384")
    assert up.openai.requests == []


async def test_strict_mode_still_moves_and_hashes_nothing_it_loses(strict: Gateway, up: Upstreams) -> None:
    """Within limits nothing is refused: a request the model takes goes through in strict mode too."""
    up.openai.script(CHAT, Reply.json(openai_completion("ok")))
    async with strict.http(bearer=True) as http:
        answer = await http.post(GW_CHAT, chat("gpt-4o-mini", max_completion_tokens=100))
    assert answer.status == 200 and "x-bf-adapted" not in answer.headers


async def test_a_fallback_is_adapted_for_its_own_model(gw: Gateway, up: Upstreams) -> None:
    up.anthropic.script(MESSAGES, Reply.error(529, "overloaded_error", "busy", dialect="anthropic"))
    up.openai.script(CHAT, Reply.json(openai_completion("from the fallback")))
    body = {
        "model": "anthropic/claude-sonnet-4-5",
        "max_tokens": 40_000,
        "thinking": {"type": "enabled", "budget_tokens": 30_000},
        "messages": [{"role": "user", "content": "hi"}],
        "fallbacks": ["openai/gpt-4o-mini"],
    }
    async with gw.http() as http:
        answer = await http.post(GW_MESSAGES, body)
    assert answer.status == 200, answer.body
    assert sent(up.anthropic, MESSAGES)["max_tokens"] == 40_000  # within sonnet's 64,000: as sent
    upstream = sent(up.openai, CHAT)
    assert upstream["max_completion_tokens"] == 16384 and "reasoning_effort" not in upstream
    assert answer.headers["x-bf-model"] == "gpt-4o-mini"
    assert answer.headers["x-bf-adapted"] == "thinking,max_tokens"  # the fallback's, not the primary's


async def test_an_unknown_anthropic_model_is_relayed_as_written(gw: Gateway, up: Upstreams) -> None:
    raw = json.dumps({"model": "claude-opus-4-8", "max_tokens": 64000, "messages": [{"role": "user", "content": "x"}]})
    up.anthropic.script(MESSAGES, Reply.json(anthropic_message("ok")))
    async with gw.http() as http:
        answer = await http.post(GW_MESSAGES, raw.encode())
    assert answer.status == 200 and "x-bf-adapted" not in answer.headers
    assert up.anthropic.requests_to(MESSAGES)[-1].body == raw.encode()
