"""`gateway serve --metrics-port` as a real process: the plugin enabled, /metrics on its own port (open) and not on
the main one; a metrics port in use stops the start with one line and exit code 1."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from gateway.testing import get_once
from tests.cli_helpers import run_cli
from tests.http.async_helpers import free_port, read_log, reap, wait_healthy

from .helpers import parse, total

DEMO = Path(__file__).resolve().parents[2] / "config" / "demo.json"


async def test_metrics_port_serves_metrics_alone(tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    log = tmp_path / "gateway.log"
    proc = _spawn(log, "--port", str(port), "--metrics-port", str(metrics_port), "--app-dir", str(tmp_path / "app"))
    try:
        await wait_healthy(proc, f"http://127.0.0.1:{port}", log)
        assert (await get_once(f"http://127.0.0.1:{port}/metrics")).status == 404
        answer = await get_once(f"http://127.0.0.1:{metrics_port}/metrics")
        assert answer.status == 200
        assert total(parse(answer.body.decode()), "http_requests_total", path="/health", status="200") >= 1
    finally:
        reap([proc])
    assert "Traceback" not in read_log(log)


def test_metrics_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        taken = int(sock.getsockname()[1])
        result = run_cli(
            "serve", "--config", str(DEMO), "--port", "0", "--metrics-port", str(taken), "--app-dir", str(tmp_path)
        )
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert lines[-1].startswith(f"gateway: cannot serve /metrics on 127.0.0.1:{taken}: "), lines
    assert "Traceback" not in result.stderr


def _spawn(log: Path, *args: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--config", str(DEMO), *args], stdout=out, stderr=out
        )
