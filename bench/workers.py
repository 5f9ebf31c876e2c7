"""Requests/s of `gateway serve --workers 1` against `--workers 2`, at one concurrency, on the fake upstream.

    .venv/bin/python -m bench.workers [--concurrency 64] [--requests 6000] [--repeat 3] [--scenario json|stream]
    .venv/bin/python -m bench.workers --lean [--concurrency 64] [--duration 10] [--repeat 3]

Starts the fake upstream (bench/upstream.py, uvloop), a `redis-server` on a free port (`--workers 2` needs a
`redis` section; the config has no budgets or limits, so nothing is counted there), then, in interleaved rounds,
the gateway with each worker count, each measured by the closed-loop load generator (bench/loadgen.py: keep-alive
connections, warm-up first). Prints each round and the medians, with the CPU the gateway's processes used per
request, and the ratio. Every server runs in a process group of its own and is killed on exit.

`--lean` measures the gateway's own scaling: on 2 cores, the Python load generator and the aiohttp upstream take
about half the machine, so a second worker has little CPU left to use. With it, the load comes from `wrk` (C;
apt-get install wrk) and the upstream is bench/raw_upstream.py (a few microseconds a request), json scenario only.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import servers
from bench.loadgen import CellSpec
from bench.run import ROOT, run_loadgen

OPENAI = "/v1/chat/completions"
BODIES = {
    "json": '{"model": "openai/gpt-x", "messages": [{"role": "user", "content": "Say hi"}]}',
    "stream": '{"model": "openai/gpt-x", "stream": true, "messages": [{"role": "user", "content": "Say hi"}]}',
}
TAILS = {"json": '"usage"', "stream": "[DONE]"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.workers", description=__doc__.split("\n\n")[0])
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--requests", type=int, default=6000, help="measured requests per cell (after warm-up)")
    p.add_argument("--duration", type=float, default=20.0, help="longest a measured phase runs, seconds")
    p.add_argument("--repeat", type=int, default=3, help="interleaved rounds; medians are reported")
    p.add_argument("--scenario", choices=sorted(BODIES), default="json")
    p.add_argument("--lean", action="store_true", help="wrk and the raw upstream: CPU left to the gateway")
    return p.parse_args(argv)


def start_gateway(workers: int, upstream: str, redis_port: int, tmp: Path) -> servers.Server:
    network = {"base_url": upstream, "max_retries": 0}
    provider = {"keys": [{"name": "o", "value": "sk-bench", "models": ["*"]}], "network_config": network}
    config = {"providers": {"openai": provider}, "redis": {"url": f"redis://127.0.0.1:{redis_port}/0"}}
    path = tmp / f"workers-{workers}.json"
    path.write_text(json.dumps(config))
    port = servers.free_port()
    argv = [sys.executable, "-m", "gateway", "serve", "--config", str(path), "--port", str(port)]
    argv += ["--app-dir", str(tmp / f"data-{workers}"), "--workers", str(workers), "--log-level", "WARNING"]
    return servers.spawn(f"gateway-{workers}", argv, port=port, log_dir=tmp, cwd=ROOT, env={"GATEWAY_UVLOOP": "1"})


def measure(args: argparse.Namespace, workers: int, upstream: str, redis_port: int, tmp: Path) -> dict[str, Any]:
    gateway = start_gateway(workers, upstream, redis_port, tmp)
    try:
        servers.wait_ready(gateway, "/ready", timeout_s=60)
        time.sleep(0.5)  # every worker listens once /ready answers from one of them: let the others finish
        spec = CellSpec(
            url=gateway.origin + OPENAI,
            body=BODIES[args.scenario],
            headers={"Content-Type": "application/json", "Authorization": "Bearer sk-client"},
            concurrency=args.concurrency,
            requests=args.requests,
            duration_s=args.duration,
            warmup_requests=args.concurrency * 10,
            warmup_s=5.0,
            expect_tail=TAILS[args.scenario],
        )
        if args.lean:
            wrk(spec, tmp, seconds=3)  # the warm-up (bench.loadgen warms up inside its own run)
        cpu_before = servers.group_cpu_seconds(gateway.proc.pid)
        result = run_wrk(spec, tmp) if args.lean else run_loadgen(spec, pin=False)
        cpu = servers.group_cpu_seconds(gateway.proc.pid) - cpu_before
        result["cpu_us_per_req"] = cpu / max(1, result["issued_total"]) * 1e6
        return result
    finally:
        servers.stop(gateway, grace_s=10.0)


WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-client"
"""


def wrk(spec: CellSpec, tmp: Path, seconds: float) -> str:
    """One `wrk` run's report (one thread: it needs a small share of a core at these rates)."""
    binary = shutil.which("wrk")
    if binary is None:
        raise SystemExit("--lean needs wrk (apt-get install wrk)")
    script = tmp / "post.lua"
    script.write_text(WRK_SCRIPT.format(body=json.dumps(spec.body)))
    argv = [binary, "-t1", f"-c{spec.concurrency}", "-s", str(script), "--latency", f"-d{int(seconds)}s", spec.url]
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=seconds + 60).stdout


def run_wrk(spec: CellSpec, tmp: Path) -> dict[str, Any]:
    out = wrk(spec, tmp, seconds=spec.duration_s)
    done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": _wrk_ms(re.search(r"\s50%\s+([\d.]+)(us|ms|s)", out)),
        "p99_ms": _wrk_ms(re.search(r"\s99%\s+([\d.]+)(us|ms|s)", out)),
        "errors": (int(bad.group(1)) if bad else 0) + (sum(map(int, errors.groups())) if errors else 0),
        "issued_total": done,
    }


def _wrk_ms(match: re.Match[str] | None) -> float:
    assert match is not None, "wrk printed no latency distribution"
    return float(match.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as name:
        tmp = Path(name)
        up_port = servers.free_port()
        module = "bench.raw_upstream" if args.lean else "bench.upstream"
        up_argv = [sys.executable, "-m", module, "--port", str(up_port)]
        upstream = servers.spawn("upstream", up_argv, port=up_port, log_dir=tmp, cwd=ROOT)
        redis = servers.start_redis(tmp)
        try:
            servers.wait_ready(upstream)
            rps: dict[int, list[float]] = {1: [], 2: []}
            cpu: dict[int, list[float]] = {1: [], 2: []}
            for round_ in range(args.repeat):
                for workers in (1, 2):
                    r = measure(args, workers, upstream.origin, redis.port, tmp)
                    rps[workers].append(r["rps"])
                    cpu[workers].append(r["cpu_us_per_req"])
                    print(
                        f"round {round_ + 1} --workers {workers}: {r['rps']:,.0f} req/s, p50 {r['p50_ms']:.1f} ms,"
                        f" p99 {r['p99_ms']:.1f} ms, errors {r['errors']}, gateway cpu {r['cpu_us_per_req']:.0f}"
                        " us/req",
                        flush=True,
                    )
        finally:
            servers.stop(redis)
            servers.stop(upstream)
    one, two = statistics.median(rps[1]), statistics.median(rps[2])
    print(f"\nmedian req/s at concurrency {args.concurrency} ({args.scenario}): --workers 1 {one:,.0f},", end=" ")
    print(f"--workers 2 {two:,.0f}: {two / one:.2f}x")
    print(
        f"gateway cpu us/req: --workers 1 {statistics.median(cpu[1]):.0f}, --workers 2 {statistics.median(cpu[2]):.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
