"""Async job submissions per second on Redis (the `redis` section) against SQLite (the app dir), in one run.

    .venv/bin/python -m bench.async_submissions --uvloop --repeat 3    # ~1 min
    .venv/bin/python -m bench.async_submissions --quick                 # smoke run

Starts a redis-server, the fake upstream (bench/upstream.py, 0 ms) and a listener on 127.0.0.1 that accepts
connections and never answers (an upstream that holds every call), then four gateways, each with its own app dir:
``sqlite`` and ``redis`` (its own key prefix) on the holding upstream, and the same two on the fake upstream.

- **submit**: raw POSTs of the native route (`/v1/async/messages`, a ~1 KB Anthropic body), closed loop at
  `--concurrency`, against the gateways whose upstream holds: each worker holds one job, every other job waits,
  so what is measured is the submit path alone (the job stored and queued, the 202 sent). CPU per submission is
  the gateway's process group's, and for ``redis`` also redis-server's.
- **run**: the same submits against the gateways on the fake upstream, whose workers run the jobs meanwhile; then
  every job is polled until it is completed (GET of the native route). jobs/s is from the first submit to the
  last `completed_at`; CPU per job covers the submit, the run and the polls.

Modes alternate from round to round; medians are printed. Every phase is bounded in count and in time
(bench.async_jobs.PHASE_LIMIT_S, --poll-timeout); every server is stopped on exit, error, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import socket
import statistics
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import aiohttp
from aiohttp import ClientSession

from bench import report, servers
from bench.async_jobs import HEADERS, PROMPT, Phase, closed_loop, drain_jobs
from bench.loadgen import percentile
from bench.run import ROOT
from bench.scenarios import gateway_config
from bench.upstream import new_loop

MODES = ("sqlite", "redis")
NATIVE = "/v1/async/messages"
BODY = json.dumps(
    {"model": "anthropic/claude-bench", "max_tokens": 256, "messages": [{"role": "user", "content": PROMPT}]}
)
BIG_QUEUE = 1_000_000  # the submit phase leaves every job waiting: the queue bound must not refuse them


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jobs", type=int, default=2000, help="submissions per phase (default 2000)")
    p.add_argument("--concurrency", type=int, default=16, help="clients submitting at once (default 16)")
    p.add_argument("--repeat", type=int, default=3, help="rounds; modes alternate (default 3)")
    p.add_argument("--warmup", type=int, default=200, help="unmeasured submissions first, per gateway")
    p.add_argument("--uvloop", action="store_true", help="gateways (GATEWAY_UVLOOP=1) and client on uvloop")
    p.add_argument("--poll-timeout", type=float, default=60.0, help="seconds to wait for a run phase's jobs")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per HTTP request")
    p.add_argument("--quick", action="store_true", help="smoke run: 300 jobs, 1 round")
    args = p.parse_args(argv)
    if args.quick:
        args.jobs, args.repeat, args.warmup = 300, 1, 50
    return args


@contextlib.contextmanager
def holding_upstream() -> Iterator[str]:
    """A listener that never accepts: the kernel completes each connection, and no answer ever comes."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1024)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def start_gateways(args: argparse.Namespace, tmp: Path, redis: servers.Server, hold: str) -> dict[str, Any]:
    port = servers.free_port()
    argv = [sys.executable, "-m", "bench.upstream", "--port", str(port)]
    started = {"upstream": servers.spawn("upstream", argv, port=port, log_dir=tmp, cwd=ROOT)}
    for phase, origin in (("submit", hold), ("run", started["upstream"].origin)):
        for mode in MODES:
            config = gateway_config(origin) | {"client": {"async_max_queue": BIG_QUEUE}}
            if mode == "redis":  # a key prefix per phase: one phase's workers must not take the other's jobs
                config["redis"] = {"url": f"redis://127.0.0.1:{redis.port}/0", "key_prefix": f"bench-{phase}:"}
            name = f"{phase}-{mode}"
            started[name] = servers.spawn_gateway(name, config, log_dir=tmp, cwd=ROOT, uvloop=args.uvloop)
    for server in started.values():
        servers.wait_ready(server, timeout_s=30.0)
    return started


def submit_one(session: ClientSession, url: str, ids: list[str]) -> Callable[[], Awaitable[None]]:
    async def one() -> None:
        async with session.post(url, data=BODY, headers=HEADERS) as resp:
            body = await resp.read()
        if resp.status != 202 or b'"status":"pending"' not in body:
            raise aiohttp.ClientError(f"status {resp.status}, body {body[:120]!r}")
        ids.append(json.loads(body)["id"])

    return one


async def measure(args: argparse.Namespace, session: ClientSession, gateway: servers.Server, redis: servers.Server,
                  phase: str) -> dict[str, Any]:  # fmt: skip
    ids: list[str] = []
    redis_cpu, cpu = servers.group_cpu_seconds(redis.proc.pid), servers.group_cpu_seconds(gateway.proc.pid)
    loop = await closed_loop(args.jobs, args.concurrency, submit_one(session, gateway.origin + NATIVE, ids))
    row = summarize(loop, len(ids))
    if phase == "run":
        drain = await drain_jobs(session, gateway.origin, ids, args.concurrency, args.poll_timeout)
        span = drain.last_completed_wall - loop.started_wall
        row["jobs_per_s"] = drain.completed / span if span > 0 and drain.completed else 0.0
        row["ok"] = row["ok"] and drain.completed == len(ids) and not drain.verify_failed
    row["cpu_us"] = (servers.group_cpu_seconds(gateway.proc.pid) - cpu) / max(1, len(ids)) * 1e6
    row["redis_cpu_us"] = (servers.group_cpu_seconds(redis.proc.pid) - redis_cpu) / max(1, len(ids)) * 1e6
    return row


def summarize(loop: Phase, submitted: int) -> dict[str, Any]:
    return {
        "rps": len(loop.latencies) / loop.elapsed_s if loop.elapsed_s else 0.0,
        "p50_ms": percentile(loop.latencies, 50),
        "p99_ms": percentile(loop.latencies, 99),
        "errors": loop.errors,
        "first_error": loop.first_error,
        "submitted": submitted,
        "ok": not loop.errors,
    }


async def run_rounds(args: argparse.Namespace, started: dict[str, Any]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    async with ClientSession(connector=connector, timeout=timeout) as session:
        for name in (f"{p}-{m}" for p in ("submit", "run") for m in MODES):  # warm-up: connections, caches, Redis
            await closed_loop(args.warmup, args.concurrency, submit_one(session, started[name].origin + NATIVE, []))
        for round_no in range(args.repeat):
            for phase in ("submit", "run"):
                for mode in MODES if round_no % 2 == 0 else MODES[::-1]:
                    row = await measure(args, session, started[f"{phase}-{mode}"], started["redis"], phase)
                    runs.setdefault((phase, mode), []).append(row)
                    print(f"  {phase:<6} {mode:<6} {row['rps']:>6.0f} submits/s  p50 {row['p50_ms']:.3f} ms"
                          f"  cpu {row['cpu_us']:.0f} us (+redis {row['redis_cpu_us']:.0f})  errors {row['errors']}",
                          file=sys.stderr, flush=True)  # fmt: skip
    return runs


def table(runs: dict[tuple[str, str], list[dict[str, Any]]]) -> list[str]:
    head = ["phase", "store", "submits/s", "p50 ms", "p99 ms", "jobs/s", "cpu us", "redis cpu us", "errors"]
    rows = []
    for phase in ("submit", "run"):
        for mode in MODES:
            got = runs[(phase, mode)]
            med = report.median_of_runs(got)
            jobs = f"{statistics.median(r['jobs_per_s'] for r in got):.0f}" if phase == "run" else "-"
            redis_cpu = f"{med['redis_cpu_us']:.0f}" if mode == "redis" else "-"
            rows.append([phase, mode, f"{med['rps']:.0f}", f"{med['p50_ms']:.3f}", f"{med['p99_ms']:.3f}", jobs,
                         f"{med['cpu_us']:.0f}", redis_cpu, str(sum(r["errors"] for r in got))])  # fmt: skip
    return [report._table(head, rows)]


def _raise_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_exit)
    started: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="gateway-bench-submissions-") as tmp_name, holding_upstream() as hold:
        tmp = Path(tmp_name)
        try:
            started["redis"] = servers.start_redis(tmp)
            started |= start_gateways(args, tmp, started["redis"], hold)
            runs = new_loop(args.uvloop).run_until_complete(run_rounds(args, started))
        finally:
            for server in reversed(list(started.values())):
                servers.stop(server)
    print(f"\nuvloop: {args.uvloop}  jobs: {args.jobs}  concurrency: {args.concurrency}  repeat: {args.repeat}"
          "  (medians; cpu us per submission, per job in the run phase)\n")  # fmt: skip
    print("\n".join(table(runs)))
    bad = [f"{p} {m}: {r['first_error'] or 'jobs not all completed'}" for (p, m), rs in runs.items() for r in rs
           if not r["ok"]]  # fmt: skip
    print("\n".join(bad))
    return 1 if bad else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)
