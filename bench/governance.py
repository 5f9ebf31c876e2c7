"""What governance (virtual keys, budgets, rate limits) costs on the request path, one command.

Run from the repository root::

    /work/venv/bin/python -m bench.governance --uvloop --repeat 3     # medians of 3 rounds, ~1 min
    /work/venv/bin/python -m bench.governance --quick                  # smoke run

It starts the fake upstream and two gateways on free 127.0.0.1 ports, each with its own app dir: ``off`` runs
the plain config of ``bench.scenarios.gateway_config`` and gets anonymous requests; ``on`` runs the same plus a
``governance`` section (one virtual key with a budget and rate limits, prices for both providers) and every
request carries the key. Before measuring it checks that governance is really in force: ``off`` answers an
anonymous request and rejects nothing, ``on`` answers the key and rejects ``sk-bf-wrong`` with 401. Then, for
the OpenAI and Anthropic JSON scenarios at concurrency 1 and 64, it measures both gateways alternately with
bench/loadgen.py (bounded like bench/run.py) and prints medians plus the two target figures: p50 added at c1
and req/s lost at c64, each to stay within 15%. After the run it reads the ``on`` gateway's ledger (its
``config.db``) to show that the calls were metered.
"""

from __future__ import annotations

import argparse
import json
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType
from typing import Any

from bench import report, servers
from bench.loadgen import CellSpec
from bench.run import ROOT, budget, run_loadgen
from bench.scenarios import SCENARIOS, Scenario, gateway_config

VK = "sk-bf-bench-key"
TARGET_PCT = 15.0
MODES = ("off", "on")
CHOSEN = tuple(s for s in SCENARIOS if s.name in ("openai_json", "anthropic_json"))
CONCURRENCIES = (1, 64)
_PROVIDERS = ("openai", "anthropic")
_RATE: dict[str, Any] = {"request_max_limit": 100000000, "request_reset_duration": "1m"}
_RATE |= {"token_max_limit": 1000000000, "token_reset_duration": "1m"}
_KEY: dict[str, Any] = {"id": "vk1", "name": "bench", "value": VK, "rate_limit": _RATE}
_KEY |= {"provider_configs": [{"provider": p, "allowed_models": ["*"]} for p in _PROVIDERS]}
_KEY |= {"budgets": [{"max_limit": 1000000, "reset_duration": "1d"}]}
_PRICE = {"input_cost_per_token": 0.000001, "output_cost_per_token": 0.000002}
GOVERNANCE: dict[str, Any] = {"virtual_keys": [_KEY], "pricing": {f"{p}/*": _PRICE for p in _PROVIDERS}}
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through an http_proxy


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--uvloop", action="store_true", help="start both gateways with GATEWAY_UVLOOP=1 (else 0)")
    p.add_argument("--repeat", type=int, default=1, help="interleaved rounds per cell; the table shows medians")
    p.add_argument("--quick", action="store_true", help="smoke run: 100/300 requests, at most 2/3 s per cell")
    p.add_argument("--json", type=Path, default=None, help="write raw results and derived figures here")
    p.add_argument("--ready-timeout", type=float, default=60.0, help="seconds to wait for each server")
    args = p.parse_args(argv)
    if not 1 <= args.repeat <= 50:
        p.error("--repeat must be between 1 and 50")
    # The budget fields bench.run.budget reads: same defaults as bench/run.py.
    args.requests, args.duration, args.requests_c1, args.duration_c1 = 5000, 10.0, 1000, 5.0
    args.warmup, args.warmup_duration, args.timeout = None, 3.0, 30.0
    if args.quick:
        args.requests, args.duration, args.requests_c1, args.duration_c1 = 300, 3.0, 100, 2.0
        args.warmup, args.warmup_duration = 20, 1.0
    return args


def headers(scenario: Scenario, mode: str, key: str = VK) -> dict[str, str]:
    """The scenario's headers; with governance on, the virtual key as Authorization: Bearer."""
    out = scenario.headers()
    if mode == "on":
        out["Authorization"] = f"Bearer {key}"
    return out


def start_servers(args: argparse.Namespace, tmp: Path) -> dict[str, servers.Server]:
    """The upstream, then one gateway per mode, each with its own config file and app dir."""
    started: dict[str, servers.Server] = {}
    python = sys.executable
    port = servers.free_port()
    argv = [python, "-m", "bench.upstream", "--port", str(port)]
    started["upstream"] = servers.spawn("upstream", argv, port=port, log_dir=tmp, cwd=ROOT)
    for mode in MODES:
        config = gateway_config(started["upstream"].origin)
        if mode == "on":
            config["governance"] = GOVERNANCE
        started[mode] = servers.spawn_gateway(f"gateway-{mode}", config, log_dir=tmp, cwd=ROOT, uvloop=args.uvloop)
    for server in started.values():
        servers.wait_ready(server, timeout_s=args.ready_timeout)
    return started


def status_of(server: servers.Server, scenario: Scenario, hdrs: dict[str, str]) -> int:
    url = server.origin + scenario.path("gateway")
    request = urllib.request.Request(url, data=scenario.body("gateway").encode(), headers=hdrs, method="POST")
    try:
        with _OPENER.open(request, timeout=10.0) as resp:
            resp.read()
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def verify(started: dict[str, servers.Server]) -> list[str]:
    """Governance is in force on 'on' only: each line is one check; raise if any fails."""
    checks = []
    for scenario in CHOSEN:
        anon, wrong = scenario.headers(), headers(scenario, "on", "sk-bf-wrong")
        checks += [
            ("off", scenario, "anonymous", anon, 200),
            # without governance configured, a virtual-key-looking key is just a client key
            ("off", scenario, VK, headers(scenario, "on"), 200),
            ("on", scenario, VK, headers(scenario, "on"), 200),
            ("on", scenario, "sk-bf-wrong", wrong, 401),
        ]
    lines, failed = [], False
    for mode, scenario, who, hdrs, expected in checks:
        got = status_of(started[mode], scenario, hdrs)
        failed |= got != expected
        lines.append(f"  {mode:<3} {scenario.name:<15} {who:<16} -> {got} (expected {expected})")
    if failed:
        raise RuntimeError("governance check failed:\n" + "\n".join(lines))
    return lines


def measure(
    args: argparse.Namespace, server: servers.Server, scenario: Scenario, mode: str, conc: int
) -> dict[str, Any]:
    b = budget(args, conc)
    spec = CellSpec(
        url=server.origin + scenario.path("gateway"),
        body=scenario.body("gateway"),
        headers=headers(scenario, mode),
        concurrency=conc,
        requests=b.requests,
        duration_s=b.duration_s,
        warmup_requests=b.warmup_requests,
        warmup_s=b.warmup_s,
        expect_tail=scenario.expect_tail(),
        timeout_s=args.timeout,
    )
    cpu_before = servers.group_cpu_seconds(server.proc.pid)
    result = run_loadgen(spec, pin=False)
    cpu = max(0.0, servers.group_cpu_seconds(server.proc.pid) - cpu_before)
    result["cpu_us_per_req"] = cpu * 1e6 / max(1, result["issued_total"])
    if server.proc.poll() is not None:
        raise RuntimeError(f"{server.name} died:\n{server.log_tail()}")
    return result


def run_matrix(args: argparse.Namespace, started: dict[str, servers.Server]) -> list[report.Cell]:
    cells = []
    for scenario in CHOSEN:
        for conc in CONCURRENCIES:
            runs: dict[str, list[dict[str, Any]]] = {m: [] for m in MODES}
            for round_no in range(args.repeat):
                order = MODES if round_no % 2 == 0 else MODES[::-1]  # alternate who goes first
                for mode in order:
                    r = measure(args, started[mode], scenario, mode, conc)
                    runs[mode].append(r)
                    print(
                        f"  {scenario.name:<15} c{conc:<3} {mode:<3} {r['rps']:>7.0f} req/s  p50 {r['p50_ms']:.3f} ms"
                        f"  cpu {r['cpu_us_per_req']:.0f} us/req  errors {r['errors']}",
                        file=sys.stderr,
                        flush=True,
                    )
            cells += [report.Cell(scenario.name, False, m, conc, report.median_of_runs(runs[m])) for m in MODES]
    return cells


def _paired(off: report.Cell, on: report.Cell, key: str, pct: bool = True) -> float:
    """Median over rounds of on minus off (in % of off, or x1000: ms to us) within each round: the two ran
    back to back, so drift of the machine between rounds cancels."""
    diffs = []
    for a, b in zip(off.result["runs"], on.result["runs"], strict=True):
        base = a[key] if pct else 0.001
        diffs.append((b[key] - a[key]) / base * (100.0 if pct else 1.0) if base > 0 else 0.0)
    return statistics.median(diffs)


def derive(cells: list[report.Cell]) -> list[dict[str, Any]]:
    """Per scenario x concurrency: what governance adds (p50, p99, CPU) and loses (req/s), paired per round."""
    by_key = {(c.scenario, c.concurrency, c.target): c for c in cells}
    out = []
    for scenario in CHOSEN:
        for conc in CONCURRENCIES:
            off, on = by_key[(scenario.name, conc, "off")], by_key[(scenario.name, conc, "on")]
            row: dict[str, Any] = {"scenario": scenario.name, "concurrency": conc}
            row["p50_added_pct"] = _paired(off, on, "p50_ms")
            row["p50_added_us"] = _paired(off, on, "p50_ms", pct=False)
            row["p99_added_pct"] = _paired(off, on, "p99_ms")
            row["rps_lost_pct"] = -_paired(off, on, "rps")
            row["cpu_added_pct"] = _paired(off, on, "cpu_us_per_req")
            out.append(row)
    return out


def tables(cells: list[report.Cell], derived: list[dict[str, Any]]) -> str:
    by_key = {(c.scenario, c.concurrency, c.target): c for c in cells}
    head = ["scenario", "conc", "req/s off", "req/s on", "p50 off", "p50 on", "p99 off", "p99 on"]
    head += ["cpu us off", "cpu us on", "ok/err on"]
    rows = []
    for d in derived:
        off, on = by_key[(d["scenario"], d["concurrency"], "off")], by_key[(d["scenario"], d["concurrency"], "on")]
        row = [d["scenario"], str(d["concurrency"]), f"{off.get('rps'):.0f}", f"{on.get('rps'):.0f}"]
        row += [f"{c.get(k):.3f}" for k in ("p50_ms", "p99_ms") for c in (off, on)]
        row += [f"{off.get('cpu_us_per_req'):.0f}", f"{on.get('cpu_us_per_req'):.0f}"]
        rows.append([*row, f"{int(on.get('ok'))}/{int(on.get('errors') + off.get('errors'))}"])
    head2 = ["scenario", "conc", "+p50 %", "+p50 us", "+p99 %", "req/s lost %", "+cpu %"]
    keys = ("p50_added_pct", "p50_added_us", "p99_added_pct", "rps_lost_pct", "cpu_added_pct")
    rows2 = [[d["scenario"], str(d["concurrency"]), *(f"{d[k]:.1f}" for k in keys)] for d in derived]
    return report._table(head, rows) + "\n\nGovernance on vs off:\n\n" + report._table(head2, rows2)


def headline(derived: list[dict[str, Any]]) -> list[str]:
    lines = []
    for d in derived:
        name, conc = d["scenario"], d["concurrency"]
        value, what = (d["p50_added_pct"], "p50 added") if conc == 1 else (d["rps_lost_pct"], "req/s lost")
        verdict = "ok" if value <= TARGET_PCT else "OVER TARGET"
        lines.append(f"{name} c{conc}: {what} by governance {value:+.1f}% (target <= {TARGET_PCT:.0f}%): {verdict}")
    return lines


def ledger(app_dir: Path) -> str:
    """The metered usage the 'on' gateway saved to its app dir (read after it stopped and flushed)."""
    path = app_dir / "config.db"
    if not path.exists():
        return "ledger: no config.db found"
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT meter, used FROM usage ORDER BY meter").fetchall()
    return "ledger of 'on' after the run: " + (", ".join(f"{m} = {u:.6g}" for m, u in rows) or "empty")


def _raise_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally that stops the servers


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_exit)
    started: dict[str, servers.Server] = {}
    with tempfile.TemporaryDirectory(prefix="gateway-bench-gov-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            started = start_servers(args, tmp)
            checks = verify(started)
            print("Governance check:\n" + "\n".join(checks), file=sys.stderr, flush=True)
            cells = run_matrix(args, started)
        finally:
            for server in reversed(list(started.values())):
                servers.stop(server)
        spent = ledger(tmp / "gateway-on-data")
    derived = derive(cells)
    print(f"\nuvloop gateways: {args.uvloop}   repeat: {args.repeat}   quick: {args.quick}\n")
    print(tables(cells, derived))
    print("\n" + "\n".join(headline(derived)))
    print("\n" + spent)
    notes = report.error_notes(cells)
    if notes:
        print("\nErrors:\n" + "\n".join(notes))
    if args.json:
        meta = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        meta.update(time=time.strftime("%Y-%m-%dT%H:%M:%S%z"), checks=checks)
        payload = {"meta": meta, "cells": [vars(c) for c in cells], "derived": derived}
        args.json.write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the servers are already stopped by main's finally
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)
