"""Every Bifrost config of the corpus (tests/data/bifrost_configs, see its SOURCES.md) loads: `check-config`
passes with one warning line per Bifrost setting we do not implement, `--strict-config` refuses exactly those,
and `gateway serve` starts on it and answers /health."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.testing import get_once
from tests.cli_helpers import run_cli
from tests.config.corpus import ROOT, WARNING, corpus, env_for
from tests.http.async_helpers import free_port, spawn_gateway, wait_healthy

START_TIMEOUT_S = 20.0
CONFIGS = [pytest.param(path, id=path.stem) for path in corpus()]


def test_the_corpus_has_the_configs_the_issue_asks_for() -> None:
    names = {path.stem for path in corpus()}
    assert len(names) >= 10
    assert {"docs_minimal_example", "realistic_full"} <= names
    assert (ROOT / "tests/data/bifrost_configs/SOURCES.md").read_text().count(".json") >= len(names)


@pytest.mark.parametrize("path", CONFIGS)
def test_check_config_accepts_it_with_one_warning_per_ignored_setting(path: Path) -> None:
    result = run_cli("check-config", str(path), env=env_for(path))
    assert result.returncode == 0, result.stderr
    warnings = result.stderr.splitlines()
    assert all(WARNING.match(line) for line in warnings), warnings
    assert len(set(warnings)) == len(warnings)  # one line each
    suffix = f" ({len(warnings)} warnings)" if warnings else ""
    assert result.stdout.strip() == f"{path}: ok{suffix}"
    strict = run_cli("check-config", "--strict-config", str(path), env=env_for(path))
    assert strict.returncode == (1 if warnings else 0)
    assert strict.stderr.splitlines() == [line.removeprefix("warning: ") for line in warnings]


@pytest.fixture
def serving(path: Path, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    """`gateway serve` on the test's config (`path`, parametrized) and a free port; always killed at the end."""
    port = free_port()
    log = tmp_path / "serve.log"
    proc = spawn_gateway(path, port, tmp_path / "app", log, env=env_for(path))
    try:
        yield proc, f"http://127.0.0.1:{port}", log
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def postgres_stores(path: Path) -> bool:
    """The config keeps a store the gateway opens at start-up in PostgreSQL (Bifrost's production example: the
    request log's, with `client.enable_logging`), at a host this machine is not."""
    data = json.loads(path.read_text())
    logs = data.get("logs_store")
    logging_on = bool(data.get("client", {}).get("enable_logging"))
    return logging_on and isinstance(logs, dict) and logs.get("type") == "postgres" and logs.get("enabled", True)


@pytest.mark.parametrize("path", CONFIGS)
async def test_serve_starts_on_it(path: Path, serving: tuple[subprocess.Popen[bytes], str, Path]) -> None:
    proc, url, log = serving
    if postgres_stores(path):  # its database cannot be reached from here: one line says so, nothing secret
        assert await asyncio.to_thread(proc.wait, START_TIMEOUT_S) == 1
        text = log.read_text(errors="replace")
        assert re.search(r"^gateway: (config_store|logs_store): PostgreSQL could not be reached", text, re.M), text
        assert "Traceback" not in text and "dummy-pg-password" not in text
        return
    await wait_healthy(proc, url, log, START_TIMEOUT_S)
    assert (await get_once(url + "/health")).json() == {"status": "ok"}
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(proc.wait, 10) in (0, -signal.SIGTERM)
    text = log.read_text(errors="replace")
    assert "Traceback" not in text
    for secret in (v for k, v in env_for(path).items() if v.startswith("dummy-") and "PASSWORD" in k):
        assert secret not in text
