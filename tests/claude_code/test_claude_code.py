"""The pinned Claude Code, run as a subprocess against a gateway in this event loop whose anthropic provider is
the kit's FakeUpstream: it prints the answer, completes a Read tool round trip, and what reaches the upstream is
exactly what Claude Code sent (only the provider key swapped in)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gateway.testing import ANTHROPIC_KEY, CLIENT_KEY, FakeUpstream, Gateway, Recorded, Reply

from .capture import DATA, SCENARIOS, Scenario, capture
from .harness import INSTALL_HINT, READ_PROMPT, READ_TOOL_ID, Claude, read_reply, require_claude, text_reply

SESSION_ID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def without_session(body: bytes) -> bytes:
    """A body with its per-run session id blanked: the one byte range two runs of the same prompt differ in."""
    return SESSION_ID.sub(b"<session>", body)


def tool_results(request: Recorded) -> list[dict[str, object]]:
    last = request.json["messages"][-1]
    return [block for block in last["content"] if block["type"] == "tool_result"]


async def test_claude_code_prints_the_upstream_answer(
    gateway: Gateway, fake_upstream: FakeUpstream, claude: Claude
) -> None:
    fake_upstream.script("/v1/messages", text_reply("Hello through the gateway."))
    run = await claude.run(gateway.url, "Say hello", "--model", "claude-opus-4-8")
    assert run.returncode == 0, run
    assert run.stdout.strip() == "Hello through the gateway."
    assert [(r.method, r.path) for r in fake_upstream.requests] == [("POST", "/v1/messages")]
    sent = fake_upstream.requests[0]
    assert sent.headers["x-api-key"] == ANTHROPIC_KEY
    assert CLIENT_KEY not in str(dict(sent.headers))
    assert sent.json["model"] == "claude-opus-4-8" and sent.json["stream"] is True


async def test_claude_code_read_tool_round_trip(gateway: Gateway, fake_upstream: FakeUpstream, claude: Claude) -> None:
    fake_upstream.script("/v1/messages", read_reply(claude.work), text_reply("The first line is: alpha beta"))
    run = await claude.run(gateway.url, READ_PROMPT, "--allowedTools", "Read")
    assert run.returncode == 0, run
    assert run.stdout.strip() == "The first line is: alpha beta"
    first, second = fake_upstream.requests_to("/v1/messages")
    assert "Read" in [tool["name"] for tool in first.json["tools"]]
    assert second.json["messages"][-2]["content"][-1] == {
        "type": "tool_use",
        "id": READ_TOOL_ID,
        "name": "Read",
        "input": {"file_path": str(claude.work / "notes.txt")},
    }
    [result] = tool_results(second)
    assert result["tool_use_id"] == READ_TOOL_ID
    assert "alpha beta" in str(result["content"]) and result.get("is_error") is not True


async def test_gateway_relays_claude_codes_turns_byte_exact(
    gateway: Gateway, fake_upstream: FakeUpstream, claude: Claude
) -> None:
    """The same run twice with the same HOME (so the same device id): straight at a fake, then through the
    gateway. Both turns, the first and the one carrying the tool_result, reach the upstream as Claude Code
    wrote them, and its beta and version headers with them."""
    async with FakeUpstream() as direct:
        direct.script("/v1/messages", read_reply(claude.work), text_reply("done"))
        alone = await claude.run(direct.url, READ_PROMPT, "--allowedTools", "Read")
        assert alone.returncode == 0, alone
    fake_upstream.script("/v1/messages", read_reply(claude.work), text_reply("done"))
    relayed = await claude.run(gateway.url, READ_PROMPT, "--allowedTools", "Read")
    assert relayed.returncode == 0, relayed
    sent, received = direct.requests_to("/v1/messages"), fake_upstream.requests_to("/v1/messages")
    assert len(sent) == len(received) == 2
    for wrote, got in zip(sent, received, strict=True):
        assert without_session(got.body) == without_session(wrote.body)
        for header in ("anthropic-beta", "anthropic-version", "content-type"):
            assert got.headers[header] == wrote.headers[header], header


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
async def test_captured_requests_are_what_the_pinned_version_sends(scenario: Scenario, tmp_path: Path) -> None:
    """tests/data/claude_code holds what this Claude Code sends: after a version bump this fails until the
    capture is refreshed (`python -m tests.claude_code.capture`, see the README there)."""
    stored = json.loads((DATA / f"{scenario.name}.json").read_text())
    fresh = await capture(scenario, tmp_path)
    assert [r["path"] for r in fresh] == [r["path"] for r in stored["requests"]]
    for now, then in zip(fresh, stored["requests"], strict=True):
        assert now["body"] == then["body"]
        now_headers = {k: v for k, v in now["headers"].items() if k != "Content-Length"}
        assert now_headers == {k: v for k, v in then["headers"].items() if k != "Content-Length"}


def test_a_missing_claude_code_fails_saying_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(AssertionError) as missing:
        require_claude(tmp_path)
    assert str(missing.value) == INSTALL_HINT
    assert "npm ci --prefix tests/claude_code" in INSTALL_HINT


async def test_a_hung_run_is_killed_at_its_timeout(fake_upstream: FakeUpstream, claude: Claude) -> None:
    fake_upstream.script("/v1/messages", Reply.hang())
    with pytest.raises(AssertionError, match=r"claude did not finish in 3\.0 s \(killed\)"):
        await claude.run(fake_upstream.url, "Say hello", timeout=3.0)
    await fake_upstream.wait_disconnects(1)
