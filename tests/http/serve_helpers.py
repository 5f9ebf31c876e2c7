"""`python -m gateway serve` as a real process group (a supervisor and its workers, or one process): started on a
free port, its URL read from its output, signalled like an operator would, and killed as a group in the end."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.cli_helpers import ROOT, cli_env

START_TIMEOUT_S = 60.0
URL = re.compile(r"http://127\.0\.0\.1:\d+")
LISTENING = "gateway listening on "
SUPERVISING = "gateway supervisor "


@dataclass
class Served:
    process: asyncio.subprocess.Process
    url: str
    log: Path
    lines: list[str] = field(default_factory=list)  # its stdout, as it comes
    reader: asyncio.Task[None] | None = None

    def signal(self, sig: int) -> None:
        self.process.send_signal(sig)

    def log_text(self) -> str:
        return _text(self.log)

    async def wait_log(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log_text():
            assert time.monotonic() < deadline, f"{text!r} not logged within {timeout}s:\n{self.log_text()}"
            assert self.process.returncode is None, f"gateway exited:\n{self.log_text()}"
            await asyncio.sleep(0.05)

    async def exit_code(self, timeout: float) -> int:
        async with asyncio.timeout(timeout):
            return await self.process.wait()


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(json.dumps(config))
    return path


@contextlib.asynccontextmanager
async def serving(config: Path, app_dir: Path, log: Path, *args: str, ready: str = LISTENING) -> AsyncIterator[Served]:
    """`gateway serve --port 0` in a session of its own until the line starting with `ready`; the whole group is
    SIGKILLed on exit (a worker must not outlive a test)."""
    command = [sys.executable, "-m", "gateway", "serve", "--config", str(config), "--port", "0"]
    with log.open("ab") as err:
        process = await asyncio.create_subprocess_exec(
            *command, "--app-dir", str(app_dir), *args,
            cwd=ROOT, env=cli_env(GATEWAY_LOG_LEVEL="INFO"), stdout=asyncio.subprocess.PIPE, stderr=err,
            start_new_session=True,
        )  # fmt: skip
    try:
        served = Served(process, await _url(process, ready, log), log)
        served.reader = asyncio.create_task(_read(process, served.lines))
        yield served
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()


async def _url(process: asyncio.subprocess.Process, ready: str, log: Path) -> str:
    assert process.stdout is not None
    async with asyncio.timeout(START_TIMEOUT_S):
        while line := (await process.stdout.readline()).decode():
            if line.startswith(ready):
                match = URL.search(line)
                assert match is not None, line
                return match.group(0)
    code = await process.wait()
    raise AssertionError(f"gateway exited with {code}:\n{_text(log)}")


def _text(log: Path) -> str:
    return log.read_text(errors="replace")


async def _read(process: asyncio.subprocess.Process, lines: list[str]) -> None:
    assert process.stdout is not None
    async for line in process.stdout:
        lines.append(line.decode(errors="replace"))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    return False
