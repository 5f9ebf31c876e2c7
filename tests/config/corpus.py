"""Helpers for the corpus tests: the Bifrost configs in tests/data/bifrost_configs and the environment their
`env.NAME` references need (dummy values; URLs point at a closed local port), and a copy of a config whose
PostgreSQL stores point at the tests' own server (`gateway serve` connects to them at start-up)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "data" / "bifrost_configs"
STORES = ("config_store", "logs_store")
WARNING = re.compile(r"^warning: \$\S*( \([a-z_]+\))?: .+$")


def corpus() -> list[Path]:
    return sorted(CORPUS.glob("*.json"))


def env_for(path: Path) -> dict[str, str]:
    env = dict(os.environ)
    for name in set(re.findall(r'"env\.([A-Za-z0-9_]+)"', path.read_text())):
        url_like = re.search("URL|ENDPOINT|HOST", name)
        env[name] = "http://127.0.0.1:9" if url_like else f"dummy-{name.lower().replace('_', '-')}-0123456789"
    return env


def uses_postgres(path: Path) -> bool:
    data = json.loads(path.read_text())
    stores = [data.get(section) for section in STORES]
    return any(isinstance(store, dict) and store.get("type") == "postgres" for store in stores)


def with_postgres(path: Path, dsn: str, directory: Path) -> Path:
    """A copy of the config at `path` in `directory`, its PostgreSQL stores on `dsn` (their host and port are the
    documentation's, and its `ssl_mode: require` a test server does not serve)."""
    data: dict[str, Any] = json.loads(path.read_text())
    for section in STORES:
        store = data.get(section)
        if isinstance(store, dict) and store.get("type") == "postgres":
            store["config"] = {"dsn": dsn}
    copy = directory / path.name
    copy.write_text(json.dumps(data))
    return copy
