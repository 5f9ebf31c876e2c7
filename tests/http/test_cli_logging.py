"""`gateway serve`'s own output as an operator reads it, from real processes: the start-up line (address, config,
app dir, providers, plugins), an access line per request in text or JSON (`--log-format`), `--log-level`, and no
secret in any of it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.testing import FakeUpstream, Http, Reply, openai_completion
from tests.cli_helpers import cli_env
from tests.conftest import OPENAI_KEY
from tests.http.async_helpers import free_port, wait_healthy, write_openai_config

ROOT = Path(__file__).resolve().parents[2]
STOP_TIMEOUT_S = 10.0


class Served:
    """A `gateway serve` process with its stdout and stderr in files (read after it stopped)."""

    def __init__(self, tmp: Path, config: Path, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app_dir = tmp / "app"
        self.out_path, self.err_path = tmp / "out.log", tmp / "err.log"
        command = ["serve", "--config", str(config), "--port", str(self.port), "--app-dir", str(self.app_dir), *args]
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            env = cli_env(GATEWAY_LOG_LEVEL=None)
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gateway", *command], cwd=ROOT, env=env, stdout=out, stderr=err
            )

    def stop(self) -> tuple[str, str]:
        """SIGTERM (a clean stop: the logs are flushed), then the whole stdout and stderr."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        return self.out_path.read_text(), self.err_path.read_text()


@pytest.fixture
def upstream(fake_upstream: FakeUpstream) -> FakeUpstream:
    fake_upstream.default("/v1/chat/completions", Reply.json(openai_completion("hi")))
    return fake_upstream


async def served(tmp_path: Path, fake: FakeUpstream, *args: str) -> Served:
    config = write_openai_config(tmp_path / "config.json", fake.url)
    gateway = Served(tmp_path, config, *args)
    await wait_healthy(gateway.proc, gateway.url, gateway.err_path)
    return gateway


CHAT = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


async def test_text_start_line_and_access_lines(tmp_path: Path, upstream: FakeUpstream) -> None:
    gateway = await served(tmp_path, upstream)
    try:
        async with Http(gateway.url, bearer=True) as http:
            assert (await http.post("/openai/v1/chat/completions", CHAT)).status == 200
            assert (await http.get("/no/such/route")).status == 404
    finally:
        out, err = gateway.stop()
    first = out.splitlines()[0]
    assert first == (
        f"gateway listening on {gateway.url} (config {tmp_path / 'config.json'}, app dir {gateway.app_dir}, "
        f"providers: openai; plugins: {first.split('plugins: ')[1]}"
    )
    assert {"provider_openai", "routing", "governance"} <= set(first.split("plugins: ")[1].rstrip(")").split(", "))
    access = [line for line in err.splitlines() if " INFO gateway.access: " in line]
    assert any(" POST /openai/v1/chat/completions 200 " in line for line in access), err
    assert any(" GET /no/such/route 404 " in line for line in access), err


async def test_json_lines_carry_each_field(tmp_path: Path, upstream: FakeUpstream) -> None:
    gateway = await served(tmp_path, upstream, "--log-format", "json")
    try:
        async with Http(gateway.url, bearer=True) as http:
            answer = await http.post("/openai/v1/chat/completions", CHAT)
            assert answer.status == 200
    finally:
        out, err = gateway.stop()
    start = json.loads(out.splitlines()[0])
    assert start["message"] == f"gateway listening on {gateway.url}"
    assert start["providers"] == ["openai"] and start["app_dir"] == str(gateway.app_dir)
    assert "provider_openai" in start["plugins"]
    lines: list[dict[str, Any]] = [json.loads(line) for line in err.splitlines()]  # every line is JSON
    access = [line for line in lines if line["logger"] == "gateway.access"]
    chat = next(line for line in access if line["path"] == "/openai/v1/chat/completions")
    assert chat["method"] == "POST" and chat["status"] == 200 and chat["level"] == "INFO"
    assert chat["request_id"] == answer.headers["x-request-id"]
    assert 0 < chat["duration_ms"] < 10_000
    assert chat["time"].endswith("Z")


async def test_log_level_warning_leaves_out_access_lines(tmp_path: Path, upstream: FakeUpstream) -> None:
    gateway = await served(tmp_path, upstream, "--log-level", "warning")
    try:
        async with Http(gateway.url, bearer=True) as http:
            assert (await http.post("/openai/v1/chat/completions", CHAT)).status == 200
    finally:
        out, err = gateway.stop()
    assert out.startswith(f"gateway listening on {gateway.url} ")
    assert "gateway.access" not in err and " INFO " not in err, err


async def test_no_secret_in_any_line(tmp_path: Path, fake_upstream: FakeUpstream) -> None:
    """The provider key sent back in headers and a query string, on a call that fails upstream (logged as an
    error) and with DEBUG on: neither output has it, in text or JSON."""
    fake = fake_upstream
    fake.default("/v1/chat/completions", Reply.json({"error": {"message": f"bad key {OPENAI_KEY}"}}, status=500))
    for log_format in ("text", "json"):
        run = tmp_path / log_format
        run.mkdir()
        gateway = await served(run, fake, "--log-level", "DEBUG", "--log-format", log_format)
        try:
            async with Http(gateway.url, bearer=True) as http:
                headers = {"x-api-key": OPENAI_KEY, "x-bf-vk": OPENAI_KEY}
                answer = await http.request(
                    "POST", "/openai/v1/chat/completions", CHAT, headers=headers, params={"key": OPENAI_KEY}
                )
                assert answer.status >= 400
                assert OPENAI_KEY not in answer.body.decode()
        finally:
            out, err = gateway.stop()
        assert "/openai/v1/chat/completions" in err  # the access line is there, without the query
        assert OPENAI_KEY not in out and OPENAI_KEY not in err


def test_bad_log_level_is_a_usage_error(tmp_path: Path) -> None:
    config = write_openai_config(tmp_path / "config.json", "http://127.0.0.1:9")
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--config", str(config), "--log-level", "loud"],
        cwd=ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2 and time.monotonic() - started < 30
    assert result.stderr.startswith("gateway: argument --log-level: invalid choice: 'LOUD'"), result.stderr


def test_bad_log_level_in_the_environment_is_a_usage_error(tmp_path: Path) -> None:
    config = write_openai_config(tmp_path / "config.json", "http://127.0.0.1:9")
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--config", str(config), "--port", "0"],
        cwd=ROOT,
        env=cli_env(GATEWAY_LOG_LEVEL="verbose"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "gateway: GATEWAY_LOG_LEVEL 'VERBOSE' is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL\n"
    )
