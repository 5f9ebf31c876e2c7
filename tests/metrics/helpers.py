"""Shared bits for the metrics tests: configs with the `metrics` plugin, and /metrics read with prometheus_client's
own parser."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from gateway.testing import Http
from tests.http.governance_helpers import ADMIN, bearer, config, vk

VK_A = "sk-bf-test-key-metrics-aaaaaaaaaa"
Samples = list[tuple[str, dict[str, str], float]]


def metrics_config(
    url: str, *keys: dict[str, Any], plugin: dict[str, Any] | None = None, **client: Any
) -> dict[str, Any]:
    """Governance (a virtual key of team t-1, prices, the admin token) and the metrics plugin."""
    keys = keys or (vk("vk-a", VK_A, team_id="t-1"),)
    base = config(url, *keys, teams=[{"id": "t-1"}], **client)
    return {**base, "plugins": [{"name": "metrics", "config": plugin or {}}]}


def parse(text: str) -> Samples:
    return [
        (sample.name, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    return sum(value for n, have, value in samples if n == name and labels.items() <= have.items())


def values(samples: Samples, name: str, label: str) -> set[str]:
    return {have[label] for n, have, _ in samples if n == name}


async def scrape(http: Http, token: str | None = ADMIN) -> Samples:
    answer = await http.get("/metrics", bearer(token) if token else None, key=None)
    assert answer.status == 200, answer.body
    assert answer.headers["Content-Type"].startswith("text/plain; version=")
    return parse(answer.body.decode())


async def scrape_until(http: Http, ready: Callable[[Samples], bool], timeout: float = 3.0) -> Samples:
    """Scrape until `ready` (the call metrics are counted by observers, just after each answer)."""
    deadline = time.monotonic() + timeout
    while True:
        samples = await scrape(http)
        if ready(samples):
            return samples
        assert time.monotonic() < deadline, "the metrics never got there"
        await asyncio.sleep(0.01)
