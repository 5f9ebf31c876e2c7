"""Claude Code pointed at targets other than Anthropic: the README's demo config with the bare model name Claude
Code sends, and an OpenAI model whose limits Claude Code's request exceeds (issue 10: the gateway adapts each
request to its target model)."""

from __future__ import annotations

import json
from pathlib import Path

from gateway.testing import FakeUpstream, MakeGateway, Reply, openai_checks, openai_sse, upstream_config

from .harness import NOTES, READ_PROMPT, Claude

DEMO_CONFIG = Path(__file__).resolve().parents[2] / "config" / "demo.json"
GPT_4O_MINI_OUTPUT_LIMIT = 16384  # OpenAI's documented max output tokens for gpt-4o-mini
OPENAI_MODEL = "openai/gpt-4o-mini"
# Every model Claude Code picks by itself (side requests, subagents) goes to the same target, so no request of the
# run can fall back to an Anthropic model name the OpenAI-only setup cannot serve.
ALL_MODELS_OPENAI = {
    name: OPENAI_MODEL
    for name in (
        "ANTHROPIC_MODEL",
        "ANTHROPIC_SMALL_FAST_MODEL",
        "ANTHROPIC_DEFAULT_HAIKU_MODEL",
        "ANTHROPIC_DEFAULT_SONNET_MODEL",
        "ANTHROPIC_DEFAULT_OPUS_MODEL",
        "CLAUDE_CODE_SUBAGENT_MODEL",
    )
}


async def test_claude_code_on_the_demo_config_with_a_bare_model(make_gateway: MakeGateway, claude: Claude) -> None:
    """The README's quick start: `gateway serve --config config/demo.json`, then Claude Code with its own model
    name. The demo's mock provider answers any model, so Claude Code prints the mock's reply and exits 0."""
    gateway = await make_gateway(json.loads(DEMO_CONFIG.read_text()))
    run = await claude.run(gateway.url, "Say hello", "--model", "claude-opus-4-8")
    assert run.returncode == 0, run
    assert run.stdout.strip() == "Mock reply to: Say hello", run
    assert "API Error" not in run.stdout and "no provider" not in run.stdout + run.stderr, run


async def test_claude_code_runs_a_tool_the_demo_mock_calls(make_gateway: MakeGateway, claude: Claude) -> None:
    """Asked to read a file, the mock calls Claude Code's Read with a path from the prompt; Claude Code runs it and
    the mock's answer quotes what the tool returned."""
    gateway = await make_gateway(json.loads(DEMO_CONFIG.read_text()))
    run = await claude.run(gateway.url, READ_PROMPT, "--model", "claude-opus-4-8", "--allowedTools", "Read")
    assert run.returncode == 0, run
    assert run.stdout.startswith(f"Mock reply to: {READ_PROMPT}\n(tool result: "), run
    assert NOTES.splitlines()[0] in run.stdout, run


async def test_claude_code_on_gpt_4o_mini_is_adapted_to_the_model(make_gateway: MakeGateway, claude: Claude) -> None:
    """Claude Code sends max_tokens 32000, adaptive thinking and effort "high" (tests/data/claude_code/
    hello_gpt_4o_mini.json); gpt-4o-mini takes at most 16,384 output tokens and no reasoning, so the gateway must
    clamp the cap and drop the effort before the upstream sees them (the fake answers 400 otherwise, as OpenAI)."""
    async with FakeUpstream(check=openai_checks()) as fake_upstream:
        fake_upstream.script("/v1/chat/completions", Reply.sse(openai_sse(("Hello from ", "gpt-4o-mini."))))
        gateway = await make_gateway(upstream_config(fake_upstream.url))
        run = await claude.run(gateway.url, "Say hello", "--model", OPENAI_MODEL, env=ALL_MODELS_OPENAI)
    assert run.returncode == 0, run
    assert run.stdout.strip() == "Hello from gpt-4o-mini."
    assert [r.path for r in fake_upstream.requests] == ["/v1/chat/completions"]
    body = fake_upstream.requests[0].json
    assert body["model"] == "gpt-4o-mini"
    assert "reasoning_effort" not in body and "reasoning" not in body
    cap = body.get("max_completion_tokens", body.get("max_tokens"))
    assert cap is not None and cap <= GPT_4O_MINI_OUTPUT_LIMIT, body.get("max_completion_tokens")
    assert len(body["user"]) == 64  # Claude Code's 150-character user id, hashed to OpenAI's limit


async def test_claude_code_on_a_self_hosted_model(make_gateway: MakeGateway, claude: Claude) -> None:
    """A self-hosted OpenAI-compatible server (vLLM, llama.cpp, Ollama) as a custom provider, its limits in the
    config: one leading system message (chat templates often insist), the cap within the configured limit."""
    async with FakeUpstream() as server:
        server.script("/v1/chat/completions", Reply.sse(openai_sse(("Hello from ", "qwen."))))
        config = {
            "providers": {
                "local": {
                    "custom_provider_config": {"base_provider_type": "openai"},
                    "keys": [{"value": "none"}],
                    "network_config": {"base_url": server.url},
                    "models": {"qwen3-coder": {"max_output_tokens": 8192, "input_modalities": ["text"]}},
                }
            }
        }
        gateway = await make_gateway(config)
        env = dict.fromkeys(ALL_MODELS_OPENAI, "local/qwen3-coder")
        run = await claude.run(gateway.url, "Say hello", "--model", "local/qwen3-coder", env=env)
    assert run.returncode == 0, run
    assert run.stdout.strip() == "Hello from qwen."
    body = server.requests[0].json
    assert body["model"] == "qwen3-coder" and body["max_completion_tokens"] == 8192
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
