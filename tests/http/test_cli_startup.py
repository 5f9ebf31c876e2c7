"""`gateway serve` as a real process that cannot start: one line on stderr saying what to do, and the documented
exit code (2 usage or config, 1 could not start); the app-dir lock between real processes; `--version`."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from gateway.api import VERSION
from gateway.startup import LOCK_FILE, StartupError
from gateway.testing import serve_gateway
from tests.cli_helpers import RUN_TIMEOUT_S, run_cli
from tests.http.async_helpers import free_port, read_log, reap, spawn_gateway, wait_healthy

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "config" / "demo.json"
MOCK_ONLY: dict[str, Any] = {"providers": {"mock": {}}}


def serve(*args: str, app_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    where = ["--app-dir", str(app_dir)] if app_dir is not None else []
    return run_cli("serve", "--config", str(DEMO), *where, *args)


def one_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    """The failure's only stderr line (nothing on stdout: the gateway never said it was listening)."""
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert result.stdout == "", result.stdout
    assert lines[0].startswith("gateway: "), lines
    return lines[0]


@pytest.mark.parametrize("port", ["99999", "65536", "-1", "eighty"])
def test_port_out_of_range_is_a_usage_error(tmp_path: Path, port: str) -> None:
    line = one_line(serve("--port", port, app_dir=tmp_path), 2)
    assert line == (
        f"gateway: argument --port: {port!r} is not a port number (1-65535, or 0 for any free port)"
        " (see `gateway serve --help`)"
    )


def test_admin_port_out_of_range_is_a_usage_error(tmp_path: Path) -> None:
    line = one_line(serve("--port", "0", "--admin-port", "70000", app_dir=tmp_path), 2)
    assert line.startswith("gateway: argument --admin-port: '70000' is not a port number"), line


def test_unknown_command_and_missing_option_are_one_line(tmp_path: Path) -> None:
    assert "invalid choice: 'srve'" in one_line(run_cli("srve"), 2)
    assert one_line(run_cli("serve"), 2) == (
        "gateway: the following arguments are required: --config (see `gateway serve --help`)"
    )


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_port_in_use(tmp_path: Path, taken_port: int) -> None:
    line = one_line(serve("--port", str(taken_port), app_dir=tmp_path), 1)
    assert line == f"gateway: port {taken_port} on 127.0.0.1 is in use (another gateway? pass --port)"


def test_admin_port_in_use(tmp_path: Path, taken_port: int) -> None:
    line = one_line(serve("--port", "0", "--admin-port", str(taken_port), app_dir=tmp_path), 1)
    assert line == f"gateway: port {taken_port} on 127.0.0.1 is in use (another gateway? pass --admin-port)"


def test_host_that_does_not_resolve(tmp_path: Path) -> None:
    line = one_line(serve("--host", "no-such-host.invalid", "--port", "0", app_dir=tmp_path), 1)
    assert line == (
        "gateway: cannot resolve --host 'no-such-host.invalid' (pass an IP address or a name this machine knows)"
    )


def test_host_that_is_not_this_machine(tmp_path: Path) -> None:
    line = one_line(serve("--host", "192.0.2.1", "--port", "0", app_dir=tmp_path), 1)  # TEST-NET-1
    assert line == (
        "gateway: --host 192.0.2.1 is not an address of this machine (pass 127.0.0.1, 0.0.0.0 or one of its own)"
    )


def test_app_dir_that_is_a_file(tmp_path: Path) -> None:
    path = tmp_path / "data"
    path.write_text("not a directory")
    line = one_line(serve("--port", "0", app_dir=path), 1)
    assert line == f"gateway: app dir {path} is a file, not a directory (pass another --app-dir)"
    line = one_line(serve("--port", "0", app_dir=path / "sub"), 1)
    assert line == f"gateway: app dir {path / 'sub'} is inside a file, not a directory (pass another --app-dir)"


@pytest.fixture
def unwritable(tmp_path: Path) -> Iterator[Path]:
    """A directory this process may not write in: a read-only one, or (root ignores modes) one under /sys."""
    if os.geteuid() == 0:
        yield Path("/sys/gateway-test-data")
        return
    path = tmp_path / "locked"
    path.mkdir(mode=0o500)
    try:
        yield path / "data"
    finally:
        path.chmod(0o700)


def test_app_dir_without_permission(unwritable: Path) -> None:
    line = one_line(serve("--port", "0", app_dir=unwritable), 1)
    assert line.startswith(f"gateway: cannot create app dir {unwritable}: "), line
    assert line.endswith("not permitted (pass another --app-dir)") or line.endswith(
        "permission denied (pass another --app-dir)"
    ), line


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    """An existing directory this process may not create files in (as root: /sys, whatever its modes)."""
    if os.geteuid() == 0:
        yield Path("/sys")
        return
    path = tmp_path / "read-only"
    path.mkdir(mode=0o500)
    try:
        yield path
    finally:
        path.chmod(0o700)


def test_app_dir_without_write_permission(read_only: Path) -> None:
    line = one_line(serve("--port", "0", app_dir=read_only), 1)
    assert line == f"gateway: cannot write in app dir {read_only}: permission denied (pass another --app-dir)"


def test_port_zero_serves_on_a_free_port_and_says_which(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--config", str(DEMO), "--port", "0", "--app-dir", str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()  # the process's first line, or "" if it died
        prefix = "gateway listening on http://127.0.0.1:"
        assert line.startswith(prefix), line
        port = int(line.removeprefix(prefix).split(" ")[0])  # then the config, app dir, providers, plugins
        assert 0 < port < 65536
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    finally:
        proc.kill()
        proc.wait(timeout=10)


async def test_second_gateway_on_one_app_dir_is_refused_until_the_first_dies(tmp_path: Path) -> None:
    app_dir, log = tmp_path / "app", tmp_path / "first.log"
    first_port = free_port()
    procs = [spawn_gateway(DEMO, first_port, app_dir, log)]
    try:
        await wait_healthy(procs[0], f"http://127.0.0.1:{first_port}", log)
        line = one_line(serve("--port", "0", app_dir=app_dir), 1)
        assert line == (
            f"gateway: app dir {app_dir} is in use by another gateway (pid {procs[0].pid});"
            " stop that one or pass another --app-dir"
        )
        procs[0].send_signal(signal.SIGKILL)  # no cleanup: the kernel alone releases the lock
        assert procs[0].wait(timeout=10) == -signal.SIGKILL
        assert (app_dir / LOCK_FILE).exists()
        second_port = free_port()
        procs.append(spawn_gateway(DEMO, second_port, app_dir, tmp_path / "second.log"))
        await wait_healthy(procs[1], f"http://127.0.0.1:{second_port}", tmp_path / "second.log")
        assert (app_dir / LOCK_FILE).read_text() == f"{procs[1].pid}\n"
    finally:
        reap(procs)
    assert "Traceback" not in read_log(log)


async def test_in_process_gateways_lock_their_app_dir_too(tmp_path: Path) -> None:
    async with serve_gateway(MOCK_ONLY, app_dir=tmp_path):
        with pytest.raises(
            StartupError, match=f"app dir {tmp_path} is in use by another gateway \\(pid {os.getpid()}\\)"
        ):
            async with serve_gateway(MOCK_ONLY, app_dir=tmp_path):
                raise AssertionError("a second gateway started on a locked app dir")
    async with serve_gateway(MOCK_ONLY, app_dir=tmp_path) as again:  # released when the first stopped
        assert again.url.startswith("http://127.0.0.1:")


@pytest.mark.parametrize("how", ["module", "script"])
def test_version(how: str) -> None:
    script = shutil.which("gateway", path=str(Path(sys.executable).parent))
    assert script is not None
    command = [sys.executable, "-m", "gateway"] if how == "module" else [script]
    result = subprocess.run([*command, "--version"], capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"gateway {version('llm-gateway')} (plugin API {VERSION})\n"


def test_config_that_cannot_be_read(tmp_path: Path) -> None:
    line = one_line(run_cli("serve", "--config", str(tmp_path), "--port", "0", "--app-dir", str(tmp_path)), 2)
    assert line == f"gateway: invalid config {tmp_path}: $: cannot read {tmp_path}: Is a directory"
