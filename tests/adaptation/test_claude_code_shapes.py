"""Claude Code's real requests (captured from 2.1.332) adapted to each target's model, against fake upstreams
that refuse what the real APIs refuse: golden upstream bodies and the `x-bf-adapted` header."""

from __future__ import annotations

import hashlib
import json

from gateway.testing import Gateway, Http, Reply, anthropic_sse, openai_sse
from tests.adaptation.helpers import CHAT, MESSAGES, Upstreams, assert_golden, claude_code_turn, sent
from tests.fakes.gemini import gemini_chunk, gemini_sse, stream_path, text_part

GW_MESSAGES = "/anthropic/v1/messages"


async def test_gpt_4o_mini_gets_a_request_it_takes(gw: Gateway, up: Upstreams) -> None:
    body = claude_code_turn("openai/gpt-4o-mini")
    up.openai.script(CHAT, Reply.sse(openai_sse(("Hello",))))
    async with gw.http() as http:
        answer = await http.post(GW_MESSAGES, body)
    assert answer.status == 200, answer.body
    assert answer.headers["x-bf-adapted"] == "thinking,output_config.effort,max_tokens,metadata.user_id"
    assert [e.event for e in answer.events()][-1] == "message_stop"
    upstream = sent(up.openai, CHAT)
    assert upstream["max_completion_tokens"] == 16384  # its output limit, not Claude Code's 32000
    assert "reasoning_effort" not in upstream  # gpt-4o-mini does not reason
    assert upstream["user"] == hashlib.sha256(body["metadata"]["user_id"].encode()).hexdigest()
    # OpenAI takes a system message anywhere: Claude Code's environment message stays where it was.
    assert [m["role"] for m in upstream["messages"]] == ["system", "user", "system"]
    assert_golden("openai_gpt_4o_mini", upstream)


async def test_unadapted_the_same_request_is_refused_by_the_fake(up: Upstreams) -> None:
    """The fake refuses Claude Code's request as sent: the test above could not pass without adaptation."""
    body = claude_code_turn("gpt-4o-mini") | {"max_completion_tokens": 32000, "reasoning_effort": "high"}
    for name in ("max_tokens", "thinking", "output_config", "metadata", "system", "tools", "context_management"):
        body.pop(name)
    body["messages"] = [{"role": "user", "content": "hi"}]
    async with gw_raw(up.openai.url) as http:
        answer = await http.post(CHAT, body)
    assert answer.status == 400 and answer.json()["error"]["param"] == "max_completion_tokens"


async def test_o3_gets_an_effort_it_takes(gw: Gateway, up: Upstreams) -> None:
    body = claude_code_turn("openai/o3") | {"output_config": {"effort": "max"}, "temperature": 0.2}
    up.openai.script(CHAT, Reply.sse(openai_sse(("Hi",))))
    async with gw.http() as http:
        answer = await http.post(GW_MESSAGES, body)
    assert answer.status == 200, answer.body
    assert answer.headers["x-bf-adapted"] == "output_config.effort,temperature,metadata.user_id"
    upstream = sent(up.openai, CHAT)
    assert upstream["reasoning_effort"] == "high"  # no OpenAI model takes "max"
    assert upstream["max_completion_tokens"] == 32000  # under o3's 100,000
    assert "temperature" not in upstream


async def test_gpt_5_2_takes_xhigh_for_max(gw: Gateway, up: Upstreams) -> None:
    body = claude_code_turn("openai/gpt-5.2") | {"output_config": {"effort": "max"}}
    up.openai.script(CHAT, Reply.sse(openai_sse(("Hi",))))
    async with gw.http() as http:
        answer = await http.post(GW_MESSAGES, body)
    assert answer.status == 200, answer.body
    assert sent(up.openai, CHAT)["reasoning_effort"] == "xhigh"


async def test_haiku_3_5_relayed_with_its_cap_and_no_thinking(gw: Gateway, up: Upstreams) -> None:
    """Same dialect: the body is relayed as Claude Code wrote it, but for the fields a rule changed."""
    body = claude_code_turn("anthropic/claude-3-5-haiku-20241022", "hello_haiku_4_5.json")
    up.anthropic.script(MESSAGES, Reply.sse(anthropic_sse(("Hi",))))
    async with gw.http() as http:
        answer = await http.post(GW_MESSAGES, body)
    assert answer.status == 200, answer.body
    assert answer.headers["x-bf-adapted"] == "thinking,max_tokens"
    upstream = sent(up.anthropic, MESSAGES)
    assert upstream["max_tokens"] == 8192 and "thinking" not in upstream
    untouched = {k: v for k, v in body.items() if k not in ("model", "max_tokens", "thinking")}
    assert {k: v for k, v in upstream.items() if k not in ("model", "max_tokens")} == untouched
    assert list(upstream) == [k for k in body if k != "thinking"]  # the client's field order, kept
    assert_golden("anthropic_claude_3_5_haiku", upstream)


async def test_a_known_model_within_its_limits_is_relayed_byte_exact(gw: Gateway, up: Upstreams) -> None:
    body = claude_code_turn("claude-sonnet-4-5", "hello_haiku_4_5.json")  # budget 31999 < 32000 < 64000
    up.anthropic.script(MESSAGES, Reply.sse(anthropic_sse(("Hi",))))
    raw = _dumps(body)
    async with gw.http() as http:
        answer = await http.post(GW_MESSAGES, raw)
    assert answer.status == 200, answer.body
    assert "x-bf-adapted" not in answer.headers
    assert up.anthropic.requests_to(MESSAGES)[-1].body == raw


async def test_thinking_budget_follows_a_clamped_cap(gw: Gateway, up: Upstreams) -> None:
    body = claude_code_turn("claude-sonnet-4-5", "hello_haiku_4_5.json")
    body |= {"max_tokens": 100_000, "thinking": {"type": "enabled", "budget_tokens": 90_000}}
    up.anthropic.script(MESSAGES, Reply.sse(anthropic_sse(("Hi",))))
    async with gw.http() as http:
        answer = await http.post(GW_MESSAGES, body)
    assert answer.status == 200, answer.body
    assert answer.headers["x-bf-adapted"] == "max_tokens,thinking.budget_tokens"
    upstream = sent(up.anthropic, MESSAGES)
    assert upstream["max_tokens"] == 64000 and upstream["thinking"]["budget_tokens"] == 48000


async def test_gemini_2_0_flash(gw: Gateway, up: Upstreams) -> None:
    up.gemini.script(
        stream_path("gemini-2.0-flash"), Reply.sse(gemini_sse([gemini_chunk([text_part("Hi")], finish="STOP")]))
    )
    async with gw.http() as http:
        answer = await http.post(GW_MESSAGES, claude_code_turn("gemini/gemini-2.0-flash"))
    assert answer.status == 200, answer.body
    assert answer.headers["x-bf-adapted"] == "thinking,output_config.effort,max_tokens"
    config = sent(up.gemini, stream_path("gemini-2.0-flash"))["generationConfig"]
    assert config["maxOutputTokens"] == 8192 and "thinkingConfig" not in config
    assert_golden("gemini_2_0_flash", sent(up.gemini, stream_path("gemini-2.0-flash")))


async def test_self_hosted_model_gets_one_leading_system_message(gw: Gateway, up: Upstreams) -> None:
    body = claude_code_turn("local/qwen3-coder")
    up.local.script(CHAT, Reply.sse(openai_sse(("Hi",))))
    async with gw.http() as http:
        answer = await http.post(GW_MESSAGES, body)
    assert answer.status == 200, answer.body
    assert answer.headers["x-bf-adapted"] == "max_tokens,system,metadata.user_id"
    upstream = sent(up.local, CHAT)
    assert [m["role"] for m in upstream["messages"]] == ["system", "user"]
    assert "working directory" in upstream["messages"][0]["content"].lower()  # the environment, moved first
    assert upstream["max_completion_tokens"] == 8192  # from the config's models override
    assert upstream["reasoning_effort"] == "high"  # the config does not say it cannot reason: sent as written
    assert_golden("local_qwen3_coder", upstream)


async def test_a_model_the_catalog_does_not_know_is_sent_as_written(gw: Gateway, up: Upstreams) -> None:
    body = claude_code_turn("openai/gpt-x-unreleased") | {"output_config": {"effort": "max"}}
    up.openai.script(CHAT, Reply.sse(openai_sse(("Hi",))))
    async with gw.http() as http:
        answer = await http.post(GW_MESSAGES, body)
    assert answer.status == 200, answer.body
    assert answer.headers["x-bf-adapted"] == "metadata.user_id"  # OpenAI's wire limit, whatever the model
    upstream = sent(up.openai, CHAT)
    assert upstream["max_completion_tokens"] == 32000 and upstream["reasoning_effort"] == "max"


def _dumps(body: object) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def gw_raw(url: str) -> Http:
    return Http(url, None, bare=True)
