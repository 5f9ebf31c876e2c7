"""What a fallback costs: a call whose first provider fails with 500 and falls back to a healthy one, against a
call to the healthy provider directly, through one gateway, in one run.

Run from the repository root::

    /work/venv/bin/python -m bench.fallback --uvloop --repeat 3

Two fake upstreams (bench/upstream.py): one answers every call with 500, one is healthy. The gateway has an
OpenAI-compatible provider on each (`broken`, `healthy`), with retries off and backoff zero, so a fallback costs
exactly one failed upstream round trip plus the gateway's own work. Measured at concurrency 1 (OpenAI JSON):
`healthy/gpt-x` directly, and `broken/gpt-x` with `"fallbacks": ["healthy/gpt-x"]`. The target: the fallback
adds at most 3 ms to the p50.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import servers
from bench.loadgen import CellSpec
from bench.run import ROOT, run_loadgen

TARGET_MS = 3.0


def provider(url: str) -> dict[str, Any]:
    network = {"base_url": url, "max_retries": 0, "retry_backoff_initial": 0, "retry_backoff_max": 0}
    keys = [{"name": "k", "value": "sk-bench", "models": ["*"]}]
    return {"custom_provider_config": {"base_provider_type": "openai"}, "keys": keys, "network_config": network}


def start(tmp: Path, uvloop: bool) -> dict[str, servers.Server]:
    python, started = sys.executable, {}
    for name, extra in (("broken", ["--fail-status", "500"]), ("healthy", [])):
        port = servers.free_port()
        argv = [python, "-m", "bench.upstream", "--port", str(port), *extra]
        started[name] = servers.spawn(name, argv, port=port, log_dir=tmp, cwd=ROOT)
    config = {"providers": {n: provider(started[n].origin) for n in ("broken", "healthy")}}
    started["gateway"] = servers.spawn_gateway("gateway", config, log_dir=tmp, cwd=ROOT, uvloop=uvloop)
    for server in started.values():
        servers.wait_ready(server)
    return started


def measure(gateway: str, body: dict[str, Any], requests: int) -> dict[str, Any]:
    spec = CellSpec(
        url=gateway + "/v1/chat/completions",
        body=json.dumps(body),
        headers={"content-type": "application/json"},
        concurrency=1,
        requests=requests,
        duration_s=10.0,
        warmup_requests=100,
        warmup_s=2.0,
        expect_tail="",
    )
    return run_loadgen(spec, pin=False)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uvloop", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args(argv)
    messages = [{"role": "user", "content": "Say hello in five words."}]
    direct = {"model": "healthy/gpt-x", "messages": messages, "max_tokens": 64}
    fallback = {"model": "broken/gpt-x", "messages": messages, "max_tokens": 64, "fallbacks": ["healthy/gpt-x"]}
    with tempfile.TemporaryDirectory(prefix="bench-fallback-") as tmp:
        started = start(Path(tmp), args.uvloop)
        try:
            rounds = [
                (measure(started["gateway"].origin, direct, args.requests),
                 measure(started["gateway"].origin, fallback, args.requests))
                for _ in range(args.repeat)
            ]  # fmt: skip
        finally:
            for server in started.values():
                servers.stop(server)
    report(rounds)


def report(rounds: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    direct_p50 = statistics.median(d["p50_ms"] for d, _ in rounds)
    fallback_p50 = statistics.median(f["p50_ms"] for _, f in rounds)
    errors = sum(d["errors"] + f["errors"] for d, f in rounds)
    print(f"{'call':<34} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}")
    for label, index in (("healthy provider directly", 0), ("broken -> fallback to healthy", 1)):
        p50 = statistics.median(r[index]["p50_ms"] for r in rounds)
        p99 = statistics.median(r[index]["p99_ms"] for r in rounds)
        rps = statistics.median(r[index]["rps"] for r in rounds)
        print(f"{label:<34} {p50:>8.3f} {p99:>8.3f} {rps:>8.0f}")
    added = fallback_p50 - direct_p50
    verdict = "ok" if added <= TARGET_MS else "OVER"
    print(f"fallback adds {added:.3f} ms p50 (target <= {TARGET_MS} ms): {verdict}; errors: {errors}")


if __name__ == "__main__":
    main()
