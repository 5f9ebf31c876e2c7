"""Gateway benchmark: direct-to-upstream vs a bare aiohttp proxy vs the gateway, one command.

Run from the repository root::

    /work/venv/bin/python -m bench.run                 # full run, about two minutes
    /work/venv/bin/python -m bench.run --quick         # smoke run
    /work/venv/bin/python -m bench.run --targets direct,proxy --pin --uvloop --json /tmp/bench.json

It starts the fake upstream (bench/upstream.py, on uvloop), the bare proxy (bench/proxy.py) and the gateway
(``python -m gateway serve`` with a generated config pointing at the upstream) on free 127.0.0.1 ports, waits
until each answers ``GET /health``, then, for every scenario x concurrency, runs one load-generator process
(bench/loadgen.py) against each target in turn, direct, proxy, gateway, so that slow drift of the machine
affects all three alike. Tables and derived figures are explained in bench/README.md.

CPU pinning (``--pin``). The machine this was written for has 2 cores. The system under test (the proxy or
the gateway) gets core 0 to itself; the upstream and the load generator share core 1. Both the proxy and the
gateway are only ever busy one at a time, so sharing core 0 between them costs nothing, and the system under
test never competes with the load it is measured under. The price: for the *direct* target, core 0 sits idle
while the upstream and the load generator contend on core 1, so direct throughput at high concurrency is
understated; latency at concurrency 1 is not affected, since there only one side works at a time. Pinning is
off by default: on a machine shared with other work a pinned process cannot flee to the idle core, which shows
as 5-10 ms p99s at concurrency 1; without it the kernel schedules freely. Pinning is applied before ``exec``
so every thread inherits it; on a machine with fewer cores the mask falls back to all cores.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Any

import msgspec

from bench import report, servers
from bench.loadgen import CellSpec
from bench.scenarios import KNOWN_MODELS, SCENARIOS, TARGETS, Scenario, gateway_config

ROOT = Path(__file__).resolve().parent.parent
SUT_CPUS = {0}  # proxy and gateway
LOAD_CPUS = {1}  # upstream and load generator
DEFAULT_GATEWAY_CMD = "{python} -m gateway serve --config {config} --host 127.0.0.1 --port {port}"


@dataclass(frozen=True)
class Budget:
    """Bounds of one cell: the measured phase stops at whichever limit comes first; so does the warm-up."""

    requests: int
    duration_s: float
    warmup_requests: int
    warmup_s: float


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--targets", default=",".join(TARGETS), help="comma list of direct,proxy,gateway")
    p.add_argument("--scenarios", default=",".join(s.name for s in SCENARIOS), help="comma list")
    p.add_argument("--concurrency", default="1,64", help="comma list (default 1,64)")
    p.add_argument("--requests", type=int, default=5000, help="max measured requests per cell, concurrency > 1")
    p.add_argument("--duration", type=float, default=10.0, help="max measured seconds per cell, concurrency > 1")
    p.add_argument("--requests-c1", type=int, default=1000, help="max measured requests per cell at concurrency 1")
    p.add_argument("--duration-c1", type=float, default=5.0, help="max measured seconds per cell at concurrency 1")
    p.add_argument("--warmup", type=int, default=None, help="warm-up requests per cell (default max(50, 4*c))")
    p.add_argument("--warmup-duration", type=float, default=3.0, help="max warm-up seconds per cell")
    p.add_argument("--timeout", type=float, default=30.0, help="per-request timeout in seconds")
    p.add_argument("--quick", action="store_true", help="smoke run: 100/300 requests, at most 2/3 s per cell")
    p.add_argument("--repeat", type=int, default=1, help="rounds per cell; the table shows medians")
    p.add_argument("--chunks", type=int, default=20, help="text deltas per upstream response")
    p.add_argument("--known-models", action="store_true", help="catalog models (gpt-4o-mini, claude-sonnet-4-5)")
    p.add_argument("--uvloop", action="store_true", help="run proxy and gateway (GATEWAY_UVLOOP=1) on uvloop")
    p.add_argument("--pin", action="store_true", help="pin processes to cores (see module docstring)")
    p.add_argument("--gateway-cmd", default=DEFAULT_GATEWAY_CMD, help="placeholders {python} {config} {port}")
    p.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="another checkout of the gateway (e.g. `git worktree add /tmp/base main`), measured as target"
        " `baseline` in the same run, interleaved with the others",
    )
    p.add_argument("--ready-timeout", type=float, default=60.0, help="seconds to wait for each server")
    p.add_argument("--json", type=Path, default=None, help="write raw results to this file")
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    if args.quick:
        args.requests, args.duration, args.requests_c1, args.duration_c1 = 300, 3.0, 100, 2.0
        args.warmup = 20 if args.warmup is None else args.warmup
        args.warmup_duration = min(args.warmup_duration, 1.0)
    return args


def budget(args: argparse.Namespace, concurrency: int) -> Budget:
    warmup = args.warmup if args.warmup is not None else max(50, 4 * concurrency)
    if concurrency == 1:
        return Budget(args.requests_c1, args.duration_c1, warmup, args.warmup_duration)
    return Budget(args.requests, args.duration, warmup, args.warmup_duration)


def select(raw: str, known: tuple[str, ...], what: str) -> list[str]:
    chosen = [x.strip() for x in raw.split(",") if x.strip()]
    unknown = [x for x in chosen if x not in known]
    if unknown or not chosen:
        raise SystemExit(f"unknown {what}: {unknown or raw!r}; choose from {', '.join(known)}")
    return chosen


def gateway_argv(template: str, config: Path, port: int) -> list[str]:
    # Placeholders are replaced per token, so a path with spaces stays one argument.
    subs = {"{python}": sys.executable, "{config}": str(config), "{port}": str(port), "{host}": "127.0.0.1"}
    out = []
    for token in shlex.split(template):
        for key, value in subs.items():
            token = token.replace(key, value)
        out.append(token)
    return out


def start_servers(args: argparse.Namespace, targets: list[str], tmp: Path) -> dict[str, servers.Server]:
    """Start the upstream plus whatever the targets need; keys are 'upstream', 'proxy', 'gateway'."""
    started: dict[str, servers.Server] = {}
    python = sys.executable
    pin = args.pin
    port = servers.free_port()
    argv = [python, "-m", "bench.upstream", "--port", str(port), "--chunks", str(args.chunks)]
    started["upstream"] = servers.spawn(
        "upstream", argv, port=port, log_dir=tmp, cwd=ROOT, cpus=LOAD_CPUS if pin else None
    )
    upstream = started["upstream"].origin
    if "proxy" in targets:
        port = servers.free_port()
        argv = [python, "-m", "bench.proxy", "--port", str(port), "--upstream", upstream]
        argv += ["--uvloop"] if args.uvloop else []
        started["proxy"] = servers.spawn(
            "proxy", argv, port=port, log_dir=tmp, cwd=ROOT, cpus=SUT_CPUS if pin else None
        )
    config = tmp / "gateway.json"
    config.write_text(json.dumps(gateway_config(upstream), indent=2))
    env = {"GATEWAY_UVLOOP": "1" if args.uvloop else "0"}
    for name, cwd in (("gateway", ROOT), ("baseline", args.baseline)):
        if name in targets:  # run from its own directory, a checkout's `gateway` and `plugins` come first
            port = servers.free_port()
            argv = gateway_argv(args.gateway_cmd, config, port)
            cpus = SUT_CPUS if pin else None
            started[name] = servers.spawn(name, argv, port=port, log_dir=tmp, cwd=cwd, cpus=cpus, env=env)
    return started


def wait_all(started: dict[str, servers.Server], targets: list[str], timeout_s: float) -> list[str]:
    """Wait for every server; a gateway that never comes up is dropped (with its log) instead of aborting."""
    for name, server in started.items():
        try:
            servers.wait_ready(server, timeout_s=timeout_s)
        except RuntimeError as exc:
            if name not in ("gateway", "baseline"):
                raise
            print(f"WARNING: {name} unavailable, measuring without it.\n{exc}\n", file=sys.stderr)
            targets = [t for t in targets if t != name]
    return targets


def run_loadgen(spec: CellSpec, pin: bool) -> dict[str, Any]:
    bound = spec.warmup_s + spec.duration_s + 2 * spec.timeout_s + 30  # a hung load generator gets killed
    proc = subprocess.run(
        [sys.executable, "-m", "bench.loadgen"],
        input=msgspec.json.encode(spec),
        capture_output=True,
        cwd=ROOT,
        timeout=bound,
        preexec_fn=servers.pin_to(LOAD_CPUS if pin else None),
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed ({proc.returncode}):\n{proc.stderr.decode(errors='replace')}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def measure(
    args: argparse.Namespace, scenario: Scenario, target: str, conc: int, started: dict[str, servers.Server]
) -> dict[str, Any]:
    origin = started["upstream" if target == "direct" else target].origin
    b = budget(args, conc)
    spec = CellSpec(
        url=origin + scenario.path(target),
        body=scenario.body(target),
        headers=scenario.headers(),
        concurrency=conc,
        requests=b.requests,
        duration_s=b.duration_s,
        warmup_requests=b.warmup_requests,
        warmup_s=b.warmup_s,
        expect_tail=scenario.expect_tail(),
        timeout_s=args.timeout,
    )
    # CPU of the process doing the work under test: the upstream for direct, else the proxy or the gateway.
    measured = started["upstream" if target == "direct" else target]
    cpu_before = servers.group_cpu_seconds(measured.proc.pid)
    result = run_loadgen(spec, args.pin)
    cpu = max(0.0, servers.group_cpu_seconds(measured.proc.pid) - cpu_before)  # exited threads drop out
    result["cpu_us_per_req"] = cpu * 1e6 / max(1, result["issued_total"])
    if measured.proc.poll() is not None:  # its errors follow in every later cell; say why once, here
        print(f"WARNING: {measured.name} died:\n{measured.log_tail()}", file=sys.stderr)
    return result


def run_matrix(args: argparse.Namespace, targets: list[str], started: dict[str, servers.Server]) -> list[report.Cell]:
    chosen = select(args.scenarios, tuple(s.name for s in SCENARIOS), "scenario")
    concurrencies = [int(c) for c in args.concurrency.split(",") if c.strip()]
    if not concurrencies or min(concurrencies) < 1:
        raise SystemExit(f"bad --concurrency {args.concurrency!r}")
    cells = []
    scenarios = [replace(s, bare_model=KNOWN_MODELS[s.api]) if args.known_models else s for s in SCENARIOS]
    for scenario in (s for s in scenarios if s.name in chosen):
        for conc in concurrencies:
            runs: dict[str, list[dict[str, Any]]] = {t: [] for t in targets}
            for _ in range(args.repeat):
                for target in targets:  # interleaved, so machine drift hits every target alike
                    result = measure(args, scenario, target, conc, started)
                    _progress(scenario.name, conc, target, result)
                    runs[target].append(result)
            for target in targets:
                merged = report.median_of_runs(runs[target])
                cells.append(report.Cell(scenario.name, scenario.stream, target, conc, merged))
    return cells


def _progress(scenario: str, conc: int, target: str, r: dict[str, Any]) -> None:
    print(
        f"  {scenario:<17} c{conc:<3} {target:<8} {r['rps']:>8.0f} req/s  "
        f"p50 {r['p50_ms']:.3f} ms  errors {r['errors']}",
        file=sys.stderr,
        flush=True,
    )


def write_json(path: Path, args: argparse.Namespace, cells: list[report.Cell], derived: list[dict[str, Any]]) -> None:
    meta = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    meta.update(time=time.strftime("%Y-%m-%dT%H:%M:%S%z"), python=sys.version.split()[0])
    payload = {"meta": meta, "cells": [vars(c) for c in cells], "derived": derived}
    path.write_text(json.dumps(payload, indent=2))


def _raise_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally that stops the servers


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    targets = select(args.targets, TARGETS, "target")
    if args.baseline is not None and "baseline" not in targets:
        targets.append("baseline")
    elif args.baseline is None and "baseline" in targets:
        raise SystemExit("target baseline needs --baseline DIR")
    signal.signal(signal.SIGTERM, _raise_exit)
    started: dict[str, servers.Server] = {}
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmp_name:
        try:
            started = start_servers(args, targets, Path(tmp_name))
            measured_targets = wait_all(started, targets, args.ready_timeout)
            cells = run_matrix(args, measured_targets, started)
        finally:
            for server in reversed(list(started.values())):
                servers.stop(server)
    derived = report.derive(cells)
    print(f"\nuvloop servers: {args.uvloop}   pinned: {args.pin}   chunks: {args.chunks}\n")
    print(report.cells_table(cells))
    print("\nDerived (added = target p50 - direct p50, ms; for streams p50 is time to last byte):\n")
    print(report.derived_table(derived))
    print()
    print("\n".join(report.headline(derived)))
    if "baseline" in measured_targets:
        print("\nGateway against the baseline checkout (same run, interleaved):\n")
        print(report.baseline_table(cells))
    notes = report.error_notes(cells)
    if notes:
        print("\nErrors:\n" + "\n".join(notes))
    if args.json:
        write_json(args.json, args, cells, derived)
    return 0 if measured_targets == targets else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the servers are already stopped by main's finally
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)
