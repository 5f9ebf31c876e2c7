"""What Redis-backed admission (budgets and rate limits shared through the `redis` section) costs against the
in-process ledger, in one run.

Run from the repository root (redis-server must be installed: .ci/run installs it)::

    .venv/bin/python -m bench.redis_admission --uvloop --repeat 3     # medians of 3 rounds, ~1 min
    .venv/bin/python -m bench.redis_admission --quick                  # smoke run

It starts a redis-server and the fake upstream, then two gateways on free 127.0.0.1 ports, each with its own app
dir and the governance section of bench.governance (one virtual key with a budget, request and token limits):
``local`` counts in the process, ``redis`` adds a `redis` section, so every call runs one admission script and one
settlement script. Before measuring it checks that both admit the key and refuse ``sk-bf-wrong``, and that the
``redis`` gateway's counters are in Redis. Then, for the OpenAI and Anthropic JSON scenarios at concurrency 1
and 64, it measures both alternately and prints medians, the p50 added per call (goal: under 0.3 ms) and CPU
microseconds per request. Then, because this shared machine drifts by more than the difference measured between
cells, it alternates the two gateways request by request at concurrency 1 (one keep-alive connection each, the
same client code for both) and prints both p50s from the same seconds.
"""

from __future__ import annotations

import argparse
import http.client
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any

from bench import governance as gov
from bench import report, servers
from bench.run import ROOT
from bench.scenarios import gateway_config

MODES = ("local", "redis")
GOAL_US = 300.0


def start_servers(args: argparse.Namespace, tmp: Path, redis_port: int) -> dict[str, servers.Server]:
    started: dict[str, servers.Server] = {}
    port = servers.free_port()
    argv = [sys.executable, "-m", "bench.upstream", "--port", str(port)]
    started["upstream"] = servers.spawn("upstream", argv, port=port, log_dir=tmp, cwd=ROOT)
    for mode in MODES:
        config = gateway_config(started["upstream"].origin) | {"governance": gov.GOVERNANCE}
        if mode == "redis":
            config["redis"] = {"url": f"redis://127.0.0.1:{redis_port}/0"}
        started[mode] = servers.spawn_gateway(f"gateway-{mode}", config, log_dir=tmp, cwd=ROOT, uvloop=args.uvloop)
    for server in started.values():
        servers.wait_ready(server, timeout_s=args.ready_timeout)
    return started


def verify(started: dict[str, servers.Server], redis_port: int) -> None:
    for mode in MODES:
        for scenario in gov.CHOSEN:
            got = gov.status_of(started[mode], scenario, gov.headers(scenario, "on"))
            wrong = gov.status_of(started[mode], scenario, gov.headers(scenario, "on", "sk-bf-wrong"))
            if (got, wrong) != (200, 401):
                raise RuntimeError(f"{mode} {scenario.name}: key -> {got}, wrong key -> {wrong}")
    keys = servers.redis_call(redis_port, b"KEYS bf:gov:*\r\n")
    if b"bf:gov:budget:vk:vk1:0" not in keys:
        raise RuntimeError(f"the redis gateway's counters are not in Redis: {keys!r}")


def run_matrix(args: argparse.Namespace, started: dict[str, servers.Server]) -> dict[tuple[str, int, str], Any]:
    runs: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    for scenario in gov.CHOSEN:
        for conc in gov.CONCURRENCIES:
            for round_no in range(args.repeat):
                for mode in MODES if round_no % 2 == 0 else MODES[::-1]:
                    r = gov.measure(args, started[mode], scenario, "on", conc)
                    runs.setdefault((scenario.name, conc, mode), []).append(r)
                    print(
                        f"  {scenario.name:<15} c{conc:<3} {mode:<5} {r['rps']:>7.0f} req/s  p50 {r['p50_ms']:.3f} ms"
                        f"  cpu {r['cpu_us_per_req']:.0f} us/req  errors {r['errors']}",
                        file=sys.stderr,
                        flush=True,
                    )
    return runs


INTERLEAVED = 4000  # requests to each gateway, alternating


def interleaved(started: dict[str, servers.Server], count: int) -> list[str]:
    """Per scenario: the p50 of each gateway, their requests alternating one by one on one connection each."""
    lines = []
    for scenario in gov.CHOSEN:
        body, hdrs = scenario.body("gateway").encode(), gov.headers(scenario, "on")
        connections = {m: http.client.HTTPConnection(started[m].origin.removeprefix("http://")) for m in MODES}
        times: dict[str, list[float]] = {m: [] for m in MODES}
        for i in range(count + 200):  # the first 200 warm up
            for mode in MODES if i % 2 == 0 else MODES[::-1]:
                begin = time.perf_counter()
                connections[mode].request("POST", scenario.path("gateway"), body=body, headers=hdrs)
                response = connections[mode].getresponse()
                response.read()
                if response.status != 200:
                    raise RuntimeError(f"{mode} {scenario.name}: {response.status}")
                if i >= 200:
                    times[mode].append(time.perf_counter() - begin)
        for connection in connections.values():
            connection.close()
        p50 = {m: statistics.median(times[m]) * 1e6 for m in MODES}
        lines.append(
            f"{scenario.name} c1 interleaved ({count} each): p50 local {p50['local']:.0f} us, redis"
            f" {p50['redis']:.0f} us: {p50['redis'] - p50['local']:+.0f} us (goal < {GOAL_US:.0f})"
        )
    return lines


def table(runs: dict[tuple[str, int, str], list[dict[str, Any]]]) -> list[str]:
    head = ["scenario", "conc", "req/s local", "req/s redis", "p50 local", "p50 redis", "+p50 us"]
    head += ["cpu us local", "cpu us redis", "errors"]
    rows, verdicts = [], []
    for scenario in gov.CHOSEN:
        for conc in gov.CONCURRENCIES:
            local, shared = runs[(scenario.name, conc, "local")], runs[(scenario.name, conc, "redis")]
            added = statistics.median((b["p50_ms"] - a["p50_ms"]) * 1000 for a, b in zip(local, shared, strict=True))
            med = {m: report.median_of_runs(r) for m, r in (("local", local), ("redis", shared))}
            row = [scenario.name, str(conc), *(f"{med[m]['rps']:.0f}" for m in MODES)]
            row += [*(f"{med[m]['p50_ms']:.3f}" for m in MODES), f"{added:+.0f}"]
            row += [*(f"{med[m]['cpu_us_per_req']:.0f}" for m in MODES)]
            rows.append([*row, str(int(sum(r["errors"] for r in local + shared)))])
            if conc == 1:
                verdict = "ok" if added < GOAL_US else "OVER GOAL"
                verdicts.append(
                    f"{scenario.name} c1: p50 added by Redis {added:+.0f} us (goal < {GOAL_US:.0f}): {verdict}"
                )
    return [report._table(head, rows), "", *verdicts]


def _raise_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = gov.parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_exit)
    started: dict[str, servers.Server] = {}
    with tempfile.TemporaryDirectory(prefix="gateway-bench-redis-") as tmp_name:
        tmp = Path(tmp_name)
        redis = servers.start_redis(tmp)
        port = redis.port
        try:
            started = start_servers(args, tmp, port)
            verify(started, port)
            runs = run_matrix(args, started)
            paired = interleaved(started, 300 if args.quick else INTERLEAVED)
        finally:
            for server in reversed(list(started.values())):
                servers.stop(server)
            servers.stop(redis)
    print(f"\nuvloop gateways: {args.uvloop}   repeat: {args.repeat}   quick: {args.quick}\n")
    print("\n".join([*table(runs), "", *paired]))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)
