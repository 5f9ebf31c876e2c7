"""Helpers for the corpus tests: the Bifrost configs in tests/data/bifrost_configs and the environment their
`env.NAME` references need (dummy values; URLs point at a closed local port)."""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "data" / "bifrost_configs"
WARNING = re.compile(r"^warning: \$\S*( \([a-z_]+\))?: .+$")


def corpus() -> list[Path]:
    return sorted(CORPUS.glob("*.json"))


def env_for(path: Path) -> dict[str, str]:
    env = dict(os.environ)
    for name in set(re.findall(r'"env\.([A-Za-z0-9_]+)"', path.read_text())):
        url_like = re.search("URL|ENDPOINT|HOST", name)
        env[name] = "http://127.0.0.1:9" if url_like else f"dummy-{name.lower().replace('_', '-')}-0123456789"
    return env
