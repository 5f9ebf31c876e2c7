"""Run the pinned Claude Code (tests/claude_code/node_modules, `npm ci --prefix tests/claude_code`) as a subprocess
against a gateway on 127.0.0.1, sealed off from the machine: a fresh HOME and config dir per run, no inherited
environment, every telemetry / update / error-report switch off, and a dead proxy for anything not on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from gateway.testing import CLIENT_KEY, Reply, ToolUse, anthropic_sse

HERE = Path(__file__).resolve().parent
PINNED = json.loads((HERE / "package.json").read_text())["dependencies"]["@anthropic-ai/claude-code"]
INSTALL_HINT = f"Claude Code {PINNED} is not installed: run `npm ci --prefix tests/claude_code` (needs Node.js and npm)"
NOTES = "alpha beta\ngamma\n"  # the file the Read scenario asks Claude Code to read
READ_PROMPT = "Read the file notes.txt and tell me its first line"
READ_TOOL_ID = "toolu_claude_read_01"
TIMEOUT = 60.0  # seconds per run; a run against a fake takes 2-5 s, so this only bounds a hang

# Nothing leaves 127.0.0.1: these turn off every background call Claude Code knows of, and the proxy below (port 9,
# discard, nothing listens) makes any other host fail fast instead of reaching the internet.
SEALED = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_TELEMETRY": "1",
    "CLAUDE_CODE_ENABLE_TELEMETRY": "0",
    "DISABLE_ERROR_REPORTING": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_UPDATES": "1",
    "DISABLE_GROWTHBOOK": "1",
    "CLAUDE_CODE_DISABLE_FEATURE_FLAGS": "1",
    "DISABLE_BUG_COMMAND": "1",
    "DISABLE_FEEDBACK_COMMAND": "1",
    "CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY": "1",
    "DISABLE_INSTALLATION_CHECKS": "1",
    "CLAUDE_CODE_DISABLE_TERMINAL_TITLE": "1",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "ALL_PROXY": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1,localhost",
}


def text_reply(text: str, model: str = "claude-x") -> Reply:
    """A streamed Anthropic text answer in two deltas (Claude Code always streams)."""
    return Reply.sse(anthropic_sse((text[: len(text) // 2], text[len(text) // 2 :]), model=model))


def read_reply(workdir: Path) -> Reply:
    """A streamed `tool_use` of Claude Code's Read tool for notes.txt in `workdir`."""
    tool = ToolUse(READ_TOOL_ID, "Read", {"file_path": str(workdir / "notes.txt")})
    return Reply.sse(anthropic_sse((), tool_uses=[tool]))


@dataclass(frozen=True, repr=False)
class ClaudeRun:
    """What one `claude -p` run printed and how it exited; its repr is readable, as pytest shows assert messages
    through repr."""

    returncode: int
    stdout: str
    stderr: str

    def __repr__(self) -> str:
        return f"claude exited {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def installed_version(root: Path = HERE) -> str | None:
    """The version installed under `root` (the npm project dir), read from its package.json; None if absent."""
    manifest = root / "node_modules" / "@anthropic-ai" / "claude-code" / "package.json"
    if not (root / "node_modules" / ".bin" / "claude").exists() or not manifest.exists():
        return None
    return str(json.loads(manifest.read_text())["version"])


def require_claude(root: Path = HERE) -> Path:
    """The binary, or an AssertionError saying how to install it: a missing Claude Code fails, never skips."""
    version = installed_version(root)
    if version is None:
        raise AssertionError(INSTALL_HINT)
    if version != PINNED:
        raise AssertionError(f"Claude Code {version} is installed, the tests pin {PINNED}: {INSTALL_HINT}")
    return root / "node_modules" / ".bin" / "claude"


def claude_env(base_url: str, home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The whole environment of a run: only PATH and the locale come from the machine."""
    for sub in ("config", "xdg-config", "xdg-cache", "xdg-data", "xdg-state", "tmp"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(home / "config"),
        "XDG_CONFIG_HOME": str(home / "xdg-config"),
        "XDG_CACHE_HOME": str(home / "xdg-cache"),
        "XDG_DATA_HOME": str(home / "xdg-data"),
        "XDG_STATE_HOME": str(home / "xdg-state"),
        "TMPDIR": str(home / "tmp"),
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": CLIENT_KEY,
        **SEALED,
    }
    return env | (extra or {})


async def run_claude(
    base_url: str,
    prompt: str,
    *,
    home: Path,
    workdir: Path,
    args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    timeout: float = TIMEOUT,
) -> ClaudeRun:
    """`claude -p PROMPT ARGS` in `workdir` against `base_url`; killed (its whole process group) after `timeout`
    seconds, which fails the test. Async, so a gateway served in the test's event loop keeps answering."""
    binary = require_claude()
    proc = await asyncio.create_subprocess_exec(
        str(binary),
        "-p",
        prompt,
        *args,
        cwd=workdir,
        env=claude_env(base_url, home, env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # its own process group, so a kill takes its children too
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = await proc.communicate()
        killed = ClaudeRun(-9, out.decode(errors="replace"), err.decode(errors="replace"))
        raise AssertionError(f"claude did not finish in {timeout} s (killed)\n{killed!r}") from None
    assert proc.returncode is not None
    return ClaudeRun(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


@dataclass(frozen=True)
class Claude:
    """Claude Code bound to one test's directories: `home` (its HOME and config, fresh per test) and `work` (the
    project it runs in, holding notes.txt for the Read scenario)."""

    home: Path
    work: Path

    async def run(
        self, base_url: str, prompt: str, *args: str, env: dict[str, str] | None = None, timeout: float = TIMEOUT
    ) -> ClaudeRun:
        """`claude -p PROMPT ARGS` against `base_url` (a gateway, or a fake for a direct capture)."""
        home, work = self.home, self.work
        return await run_claude(base_url, prompt, home=home, workdir=work, args=args, env=env, timeout=timeout)
