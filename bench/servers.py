"""Subprocess plumbing for the benchmark: free ports, CPU pinning, readiness, CPU accounting and teardown.

Every server is started in its own session (process group) so that Ctrl-C in the terminal reaches only the
runner, which then tears the groups down itself: SIGTERM, a short grace period, then SIGKILL.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_CLK_TCK = os.sysconf("SC_CLK_TCK")
# Readiness probes go straight to 127.0.0.1, never through an http_proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def free_port() -> int:
    """A port the kernel just reported free on 127.0.0.1 (a tiny race remains until the server binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pin_to(cpus: set[int] | None) -> Callable[[], None] | None:
    """A preexec_fn that pins the child before exec, so every thread it later starts inherits the mask."""
    if not cpus:
        return None
    available = os.sched_getaffinity(0)
    chosen = cpus & available or available  # fall back rather than fail on a smaller machine

    def apply() -> None:
        os.sched_setaffinity(0, chosen)

    return apply


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    port: int,
    log_dir: Path,
    cwd: Path,
    cpus: set[int] | None = None,
    env: dict[str, str] | None = None,
) -> Server:
    log = log_dir / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=pin_to(cpus),
        )
    return Server(name, proc, port, log)


def spawn_gateway(name: str, config: dict[str, Any], *, log_dir: Path, cwd: Path, uvloop: bool) -> Server:
    """`python -m gateway serve` on a free 127.0.0.1 port, with `config` written to `<log_dir>/<name>.json` and an
    app dir of its own (`<log_dir>/<name>-data`)."""
    path = log_dir / f"{name}.json"
    path.write_text(json.dumps(config, indent=2))
    port = free_port()
    argv = [sys.executable, "-m", "gateway", "serve", "--config", str(path), "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--app-dir", str(log_dir / f"{name}-data")]
    env = {"GATEWAY_UVLOOP": "1" if uvloop else "0"}
    return spawn(name, argv, port=port, log_dir=log_dir, cwd=cwd, env=env)


def wait_ready(server: Server, path: str = "/health", timeout_s: float = 30.0) -> None:
    """Poll ``GET path`` until it answers 200; raise with the log tail if the process dies or times out."""
    deadline = time.monotonic() + timeout_s
    url = server.origin + path
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.proc.returncode}:\n{server.log_tail()}")
        try:
            with _OPENER.open(url, timeout=1.0) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{server.name} not ready at {url} after {timeout_s:.0f}s:\n{server.log_tail()}")


def _process_cpu_seconds(proc_dir: str, stat_fields: list[str]) -> float:
    """CPU time of one process: nanosecond schedstat summed over its threads, else clock-tick stat."""
    total_ns = 0
    try:
        for task in os.scandir(os.path.join(proc_dir, "task")):
            total_ns += int(Path(task.path, "schedstat").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        # 14, 15: utime, stime in clock ticks (10 ms), too coarse for short cells but always there
        return (int(stat_fields[11]) + int(stat_fields[12])) / _CLK_TCK
    return total_ns / 1e9


def group_cpu_seconds(pgid: int) -> float:
    """CPU time of every live process in the group (covers wrappers and worker processes)."""
    total = 0.0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue  # the process went away while we looked
        fields = stat[stat.rfind(")") + 2 :].split()  # skip "pid (comm) ", comm may hold spaces
        if int(fields[2]) == pgid:  # field 5 of stat: process group id
            total += _process_cpu_seconds(entry.path, fields)
    return total


def stop(server: Server, grace_s: float = 3.0) -> None:
    """Terminate the server's whole process group, escalating to SIGKILL after ``grace_s``."""
    pgid = server.proc.pid  # start_new_session made the server the leader of its own group
    with contextlib.suppress(ProcessLookupError):
        if server.proc.poll() is None:
            os.killpg(pgid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.proc.wait(timeout=grace_s)
        os.killpg(pgid, signal.SIGKILL)  # also reaps stragglers the leader left behind
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.proc.wait(timeout=grace_s)


def redis_call(port: int, command: bytes) -> bytes:
    """One raw command to the redis-server on `port` (b"" when it cannot be reached)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
            sock.sendall(command)
            return sock.recv(65536)
    except OSError:
        return b""


def start_redis(tmp: Path) -> Server:
    """A redis-server on a free 127.0.0.1 port, no persistence, in its own process group; returns once it answers
    PING."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp)]
    redis = spawn("redis", argv, port=port, log_dir=tmp, cwd=tmp)
    deadline = time.monotonic() + 10
    while not redis_call(port, b"PING\r\n").startswith(b"+PONG"):
        if time.monotonic() > deadline or redis.proc.poll() is not None:
            raise RuntimeError(f"redis-server did not start:\n{redis.log_tail()}")
        time.sleep(0.05)
    return redis
