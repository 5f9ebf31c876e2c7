"""What the with/without benchmarks share (bench.structured_output, bench.mcp_injection): their options, the
fake upstream they run against, and the two-cell report they print."""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import servers
from bench.loadgen import CellSpec
from bench.run import ROOT, run_loadgen

ANTHROPIC_HEADERS = {"Content-Type": "application/json", "anthropic-version": "2023-06-01", "x-api-key": "bench"}

Cells = dict[bool, list[dict[str, Any]]]


def report(title: str, cells: Cells, labels: tuple[str, str]) -> tuple[float, float]:
    """Print p50, `cpu us/req` and errors of the cell without (False) and with (True) the feature, medians over
    the rounds; return what the feature adds: (p50 us, cpu us per request)."""
    print(f"{title:<40} {'p50 ms':>8} {'cpu us/req':>11} {'errors':>7}")
    figures = {}
    for on, label in ((False, labels[0]), (True, labels[1])):
        p50 = statistics.median(r["p50_ms"] for r in cells[on])
        cpu = statistics.median(r["cpu_us_per_req"] for r in cells[on])
        errors = sum(r["errors"] for r in cells[on])
        figures[on] = (p50, cpu)
        print(f"{label:<40} {p50:>8.3f} {cpu:>11.0f} {errors:>7}")
    return (figures[True][0] - figures[False][0]) * 1000, figures[True][1] - figures[False][1]


def options(doc: str | None, argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uvloop", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--requests", type=int, default=2000)
    return parser.parse_args(argv)


def spawn_upstream(log_dir: Path) -> servers.Server:
    """The fake upstream, in 8 pieces a stream (it answers `json-*` models with the JSON document)."""
    port = servers.free_port()
    argv = [sys.executable, "-m", "bench.upstream", "--port", str(port), "--chunks", "8"]
    return servers.spawn("upstream", argv, port=port, log_dir=log_dir, cwd=ROOT)


def anthropic_c1(
    gateway: servers.Server,
    body: str,
    requests: int,
    warmup: int = 100,
    *,
    concurrency: int = 1,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One cell: `body` to the gateway's /anthropic/v1/messages at `concurrency` (1 unless told), with the gateway's
    `cpu_us_per_req` (its process group: an MCP server it started included)."""
    spec = CellSpec(
        url=gateway.origin + "/anthropic/v1/messages",
        body=body,
        headers=headers or ANTHROPIC_HEADERS,
        concurrency=concurrency,
        requests=requests,
        duration_s=20.0,
        warmup_requests=warmup,
        warmup_s=3.0,
        expect_tail="",
    )
    before = servers.group_cpu_seconds(gateway.proc.pid)
    result = run_loadgen(spec, pin=False)
    cpu = max(0.0, servers.group_cpu_seconds(gateway.proc.pid) - before)
    result["cpu_us_per_req"] = cpu * 1e6 / max(1, result["issued_total"])
    return result


def c1_pair(
    args: argparse.Namespace, off: Callable[[str], dict[str, Any]], on: Callable[[str], dict[str, Any]], body: str
) -> Cells:
    """Two gateways in front of one fake upstream, their configs built from its origin by `off` and `on`; `body`
    at concurrency 1 against each, interleaved `args.repeat` times (the machine's drift hits both alike)."""
    cells: Cells = {True: [], False: []}
    with tempfile.TemporaryDirectory(prefix="bench-pair-") as tmp:
        upstream = spawn_upstream(Path(tmp))
        spawned = {
            flag: servers.spawn_gateway(
                f"gateway-{flag}", make(upstream.origin), log_dir=Path(tmp), cwd=ROOT, uvloop=args.uvloop
            )
            for flag, make in ((False, off), (True, on))
        }
        try:
            for server in (upstream, *spawned.values()):
                servers.wait_ready(server)
            for _ in range(args.repeat):
                for flag in (False, True):
                    cells[flag].append(anthropic_c1(spawned[flag], body, args.requests))
        finally:
            for server in (*spawned.values(), upstream):
                servers.stop(server)
    return cells
