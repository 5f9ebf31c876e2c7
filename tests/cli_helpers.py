"""`python -m gateway ...` as a user runs it, for the tests of the command line: in the project root, without the
developer's provider keys, killed if it outlives its timeout (a `serve` that starts instead of failing)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN_TIMEOUT_S = 30.0
PROVIDER_KEYS = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY")


def cli_env(**changes: str | None) -> dict[str, str]:
    """This process's environment without provider keys, with `changes` (None removes a variable)."""
    env = {k: v for k, v in os.environ.items() if k not in PROVIDER_KEYS}
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m gateway ARGS` in the project root, output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=ROOT,
        env=cli_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
