"""The command line: `gateway serve` as a real process, and `gateway check-config` on good and bad files."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.testing import Http, get_once
from tests.cli_helpers import RUN_TIMEOUT_S, cli_env, run_cli
from tests.http.async_helpers import free_port, spawn_gateway, wait_healthy

ROOT = Path(__file__).resolve().parents[2]
DEMO = "config/demo.json"
EXAMPLE = "config/example.json"
START_TIMEOUT_S = 20.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    """`gateway serve --config config/demo.json` on a free port; always killed at the end."""
    port = free_port()
    log = tmp_path / "serve.log"
    proc = spawn_gateway(DEMO, port, tmp_path, log)
    try:
        yield proc, f"http://127.0.0.1:{port}", log
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def _text(path: Path) -> str:
    return path.read_text(errors="replace")


async def test_cli_serve_answers_both_dialects(server: tuple[subprocess.Popen[bytes], str, Path]) -> None:
    proc, url, log = server
    await wait_healthy(proc, url, log, START_TIMEOUT_S)
    assert (await get_once(url + "/health")).json() == {"status": "ok"}
    prompt = [{"role": "user", "content": "ping"}]
    async with Http(url, key="any") as http:
        a_body = {"model": "mock/mock-claude", "max_tokens": 50, "messages": prompt}
        answer = await http.post("/anthropic/v1/messages", a_body)
        assert answer.status == 200 and answer.headers["Content-Type"].startswith("application/json"), answer
        message = answer.json()
        assert message["type"] == "message"
        assert message["content"][0]["text"] == "Mock reply to: ping"

        answer = await http.post("/anthropic/v1/messages", {**a_body, "stream": True})
        assert answer.status == 200 and answer.headers["Content-Type"].startswith("text/event-stream")
        events = answer.events()
        assert events[0].event == "message_start" and events[-1].event == "message_stop"
        text = "".join(e.json()["delta"].get("text", "") for e in events if e.event == "content_block_delta")
        assert text == "Mock reply to: ping"

        o_body = {"model": "mock/mock-gpt", "messages": prompt}
        answer = await http.post("/v1/chat/completions", o_body)
        assert answer.status == 200 and answer.headers["Content-Type"].startswith("application/json"), answer
        completion = answer.json()
        assert completion["object"] == "chat.completion"
        assert completion["choices"][0]["message"]["content"] == "Mock reply to: ping"

        answer = await http.post("/v1/chat/completions", {**o_body, "stream": True})
        assert answer.status == 200 and answer.headers["Content-Type"].startswith("text/event-stream")
        frames = answer.events()
        assert frames[-1].data == "[DONE]"
        chunks = [f.json() for f in frames[:-1]]
        assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "Mock reply to: ping"
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        raise AssertionError("gateway did not exit within 10 s of SIGTERM") from None
    assert code in (0, -signal.SIGTERM), _text(log)
    assert "Traceback" not in _text(log)


def test_cli_console_script_check_config_ok() -> None:
    script = shutil.which("gateway", path=str(Path(sys.executable).parent))
    assert script is not None, "the `gateway` console script is not installed next to the interpreter"
    result = subprocess.run(
        [script, "check-config", DEMO], cwd=ROOT, env=cli_env(), capture_output=True, text=True, timeout=RUN_TIMEOUT_S
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{DEMO}: ok"
    assert result.stderr == ""


def test_cli_console_script_help() -> None:
    script = shutil.which("gateway", path=str(Path(sys.executable).parent))
    assert script is not None
    result = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert result.returncode == 0
    assert "serve" in result.stdout and "check-config" in result.stdout


def _bad_config(tmp_path: Path) -> Path:
    config = {
        "providers": {
            "openai": {
                "keys": [{"name": "o", "value": "env.GATEWAY_TEST_MISSING_VAR", "colour": "red"}],
                "network_config": {"max_retries": "three"},
            },
            "mock": {},
        },
        "client": {"default_max_tokens": "lots"},
    }
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(config))
    return path


EXPECTED_BAD_PATHS = [
    "$.providers.openai.keys[0].value",
    "$.providers.openai.keys[0].colour",
    "$.providers.openai.network_config.max_retries",
    "$.client.default_max_tokens",
]


def test_cli_check_config_reports_every_error(tmp_path: Path) -> None:
    result = run_cli("check-config", str(_bad_config(tmp_path)), env=cli_env(GATEWAY_TEST_MISSING_VAR=None))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    for path in EXPECTED_BAD_PATHS:
        assert any(line.startswith(path + ": ") for line in lines), (path, lines)
    assert any("GATEWAY_TEST_MISSING_VAR" in line for line in lines)
    assert any("unknown key" in line for line in lines if line.startswith("$.providers.openai.keys[0].colour"))
    assert all(line.startswith("$") for line in lines), lines
    assert len(lines) == len(EXPECTED_BAD_PATHS), lines
    assert "ok" not in result.stdout


def test_cli_serve_bad_config_one_line(tmp_path: Path) -> None:
    path = _bad_config(tmp_path)
    result = run_cli(
        "serve", "--config", str(path), "--port", str(free_port()), env=cli_env(GATEWAY_TEST_MISSING_VAR=None)
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert str(path) in lines[0]
    assert any(p in lines[0] for p in EXPECTED_BAD_PATHS), lines[0]


@pytest.mark.parametrize("command", ["check-config", "serve"])
def test_cli_invalid_json_file(tmp_path: Path, command: str) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"providers": {"mock": {}},}')
    args = [str(path)] if command == "check-config" else ["--config", str(path), "--port", str(free_port())]
    result = run_cli(command, *args)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "JSON" in lines[0]


@pytest.mark.parametrize("command", ["check-config", "serve"])
def test_cli_missing_config_file(tmp_path: Path, command: str) -> None:
    path = tmp_path / "absent.json"
    args = [str(path)] if command == "check-config" else ["--config", str(path), "--port", str(free_port())]
    result = run_cli(command, *args)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "absent.json" in lines[0], lines


def test_cli_example_config_valid_with_env() -> None:
    result = run_cli("check-config", EXAMPLE, env=cli_env(ANTHROPIC_API_KEY="sk-ant-x", OPENAI_API_KEY="sk-x"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{EXAMPLE}: ok"


def test_cli_example_config_missing_env() -> None:
    result = run_cli("check-config", EXAMPLE, env=cli_env(OPENAI_API_KEY="sk-x"))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("$.providers.anthropic.keys[0].value: ")
    assert "ANTHROPIC_API_KEY" in lines[0]
