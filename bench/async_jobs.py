"""Async jobs benchmark: sync latency vs async submit latency, and how fast the submitted jobs complete.

    /work/venv/bin/python -m bench.async_jobs [--jobs 1000] [--concurrency 16] [--uvloop] [--json PATH]

Starts the gateway (mock provider, zero latency, fresh app dir) on a free 127.0.0.1 port; what it measures and
what the figures mean is in bench/README.md. Every loop is bounded in count and time; the gateway's process
group is killed on exit, error, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

import aiohttp
from aiohttp import ClientSession

from bench import servers
from bench.loadgen import percentile
from bench.upstream import new_loop

ROOT = Path(__file__).resolve().parent.parent
ROUTE = "/anthropic/v1/messages"
PROMPT = "Summarise the trade-offs of an LLM gateway versus calling each provider directly. " * 12  # ~1 KB
HEADERS = {"Content-Type": "application/json", "Anthropic-Version": "2023-06-01"}
BODY = json.dumps({"model": "mock/claude-x", "max_tokens": 256, "messages": [{"role": "user", "content": PROMPT}]})
PHASE_LIMIT_S = 120.0  # no closed-loop phase runs longer than this, whatever its count
VERIFY_SAMPLE = 20


@dataclass
class Phase:  # one closed-loop phase: latencies of the successes, wall-clock bounds for the jobs/s figures
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""
    started_wall: float = 0.0  # time.time() when the first request was about to be sent
    ended_wall: float = 0.0  # time.time() when the last answer had been read
    elapsed_s: float = 0.0


@dataclass
class Drain:
    completed: int = 0
    failed: int = 0
    missing: int = 0  # 404: a submitted job the store does not know
    pending: int = 0  # still pending or running when the poll deadline passed
    last_completed_wall: float = 0.0
    poll_errors: int = 0
    verify_failed: int = 0  # sample re-polled on the dialect route that did not return the full Message


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jobs", type=int, default=1000, help="async jobs submitted per concurrency level")
    p.add_argument("--concurrency", type=int, default=16, help="second level besides 1 (1 = only concurrency 1)")
    p.add_argument("--sync-requests", type=int, default=500, help="measured synchronous requests per level")
    p.add_argument("--warmup", type=int, default=100, help="unmeasured sync requests and async jobs first")
    p.add_argument("--uvloop", action="store_true", help="gateway (GATEWAY_UVLOOP=1) and client on uvloop")
    p.add_argument("--poll-timeout", type=float, default=60.0, help="seconds to wait for all jobs to finish")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per HTTP request")
    p.add_argument("--json", type=Path, help="write the raw figures here")
    return p.parse_args(argv)


async def closed_loop(n: int, concurrency: int, one: Callable[[], Awaitable[None]]) -> Phase:
    """`concurrency` workers call `one` until `n` calls are made or PHASE_LIMIT_S passes."""
    phase, issued, deadline = Phase(), 0, time.perf_counter() + PHASE_LIMIT_S

    async def worker() -> None:
        nonlocal issued
        while issued < n and time.perf_counter() < deadline:
            issued, t0 = issued + 1, time.perf_counter()
            try:
                await one()
            except (aiohttp.ClientError, TimeoutError) as exc:
                phase.errors, phase.first_error = phase.errors + 1, phase.first_error or repr(exc)
                continue
            phase.latencies.append(time.perf_counter() - t0)

    phase.started_wall, start = time.time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    phase.elapsed_s, phase.ended_wall = time.perf_counter() - start, time.time()
    return phase


def post_one(session: ClientSession, url: str, ids: list[str] | None) -> Callable[[], Awaitable[None]]:
    """A synchronous request (`ids` None) or an async submit whose job id is appended to `ids`."""
    headers = HEADERS if ids is None else {**HEADERS, "x-bf-async": "true"}
    expect = b'"type":"text"' if ids is None else b'"content":[]'

    async def one() -> None:
        async with session.post(url, data=BODY, headers=headers) as resp:
            body = await resp.read()
        job_id = resp.headers.get("x-bf-async-id", "")
        if resp.status != 200 or expect not in body or (ids is not None and not job_id):
            raise aiohttp.ClientError(f"status {resp.status}, body {body[:120]!r}")
        if ids is not None:
            ids.append(job_id)

    return one


async def poll_native(session: ClientSession, origin: str, job_id: str, drain: Drain) -> bool:
    """One poll; True once the job is final (completed, failed or missing)."""
    async with session.get(f"{origin}/v1/async/messages/{job_id}") as resp:
        body = await resp.read()
    if resp.status == 404:
        drain.missing += 1
        return True
    if resp.status not in (200, 202):
        drain.poll_errors += 1
        return False
    job = json.loads(body)
    if job["status"] not in ("completed", "failed"):
        return False
    setattr(drain, job["status"], getattr(drain, job["status"]) + 1)
    done = datetime.fromisoformat(job["completed_at"].replace("Z", "+00:00")).timestamp()
    drain.last_completed_wall = max(drain.last_completed_wall, done)
    return True


async def poll_round(
    session: ClientSession, origin: str, pending: list[str], conc: int, deadline: float, drain: Drain
) -> list[str]:
    """Poll each pending job once, `conc` at a time; return those not final yet (or left unpolled at deadline)."""
    queue, still = list(pending), []

    async def poller() -> None:
        while queue and time.perf_counter() < deadline:
            job_id = queue.pop()
            try:
                final = await poll_native(session, origin, job_id, drain)
            except (aiohttp.ClientError, TimeoutError, ValueError, KeyError):
                drain.poll_errors, final = drain.poll_errors + 1, False
            if not final:
                still.append(job_id)

    await asyncio.gather(*(poller() for _ in range(max(1, conc))))
    return still + queue


async def drain_jobs(session: ClientSession, origin: str, ids: list[str], conc: int, limit_s: float) -> Drain:
    """Poll every job until all are final or `limit_s` passes, then check a sample on the dialect route."""
    drain, pending = Drain(), list(ids)
    deadline = time.perf_counter() + limit_s
    # FIFO queue: the last job finishes about last; waiting on it alone keeps polls from slowing the workers
    for _ in range(int(limit_s / 0.01)):
        if not await poll_round(session, origin, ids[-1:], 1, deadline, Drain()) or time.perf_counter() > deadline:
            break
        await asyncio.sleep(0.01)
    while pending and time.perf_counter() < deadline:
        pending = await poll_round(session, origin, pending, conc, deadline, drain)
        if pending:
            await asyncio.sleep(0.05)
    drain.pending = len(pending)
    await verify_sample(session, origin, ids[:VERIFY_SAMPLE], drain)
    return drain


async def verify_sample(session: ClientSession, origin: str, ids: list[str], drain: Drain) -> None:
    """The dialect route's poll must answer a completed job with the full synchronous Message."""
    for job_id in ids:
        headers = {**HEADERS, "x-bf-async-id": job_id}
        try:
            async with session.post(origin + ROUTE, data=b"{}", headers=headers) as resp:
                body = await resp.read()
                ok = resp.headers.get("x-bf-async-status") == "completed" and b'"type":"text"' in body
        except (aiohttp.ClientError, TimeoutError):
            ok = False
        drain.verify_failed += not ok


async def measure_level(args: argparse.Namespace, session: ClientSession, origin: str, conc: int) -> dict[str, Any]:
    """Warm-up, sync phase, submit phase, then the drain of the submitted jobs, at one concurrency."""
    url = origin + ROUTE
    await closed_loop(args.warmup, conc, post_one(session, url, None))
    warm_ids: list[str] = []
    await closed_loop(args.warmup, conc, post_one(session, url, warm_ids))
    await drain_jobs(session, origin, warm_ids, conc, args.poll_timeout)
    sync = await closed_loop(args.sync_requests, conc, post_one(session, url, None))
    ids: list[str] = []
    submit = await closed_loop(args.jobs, conc, post_one(session, url, ids))
    drain = await drain_jobs(session, origin, ids, max(conc, 16), args.poll_timeout)
    return summarize(conc, sync, submit, drain, len(ids))


def summarize(conc: int, sync: Phase, submit: Phase, drain: Drain, submitted: int) -> dict[str, Any]:
    sync_p50, submit_p50 = percentile(sync.latencies, 50), percentile(submit.latencies, 50)
    span = drain.last_completed_wall - submit.started_wall
    return {
        "concurrency": conc,
        "sync_p50_ms": sync_p50,
        "sync_p99_ms": percentile(sync.latencies, 99),
        "sync_rps": len(sync.latencies) / sync.elapsed_s if sync.elapsed_s else 0.0,
        "sync_errors": sync.errors,
        "submit_p50_ms": submit_p50,
        "submit_p99_ms": percentile(submit.latencies, 99),
        "submit_rps": len(submit.latencies) / submit.elapsed_s if submit.elapsed_s else 0.0,
        "submit_errors": submit.errors,
        "ratio": submit_p50 / sync_p50 if sync_p50 else float("nan"),
        "submitted": submitted,
        "jobs_per_s": drain.completed / span if span > 0 and drain.completed else 0.0,
        "tail_ms": (drain.last_completed_wall - submit.ended_wall) * 1000 if drain.completed else 0.0,
        "first_error": sync.first_error or submit.first_error,
        "ok": drain.completed == submitted and not (sync.errors or submit.errors or drain.verify_failed),
        "drain": asdict(drain),
    }


async def measure(args: argparse.Namespace, origin: str) -> list[dict[str, Any]]:
    levels = sorted({1, max(1, args.concurrency)})
    connector = aiohttp.TCPConnector(limit=max(*levels, 16))
    async with ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=args.timeout)) as session:
        return [await measure_level(args, session, origin, conc) for conc in levels]


def table(rows: list[dict[str, Any]]) -> str:
    head = ("conc", "sync p50", "sync p99", "sync r/s", "submit p50", "submit p99", "submit r/s", "ratio",
            "jobs/s", "tail ms", "completed", "failed/missing/pending")  # fmt: skip
    lines = [" | ".join(head), " | ".join("-" * len(h) for h in head)]
    for r in rows:
        d = r["drain"]
        cells = (f"{r['concurrency']}", f"{r['sync_p50_ms']:.3f}", f"{r['sync_p99_ms']:.3f}", f"{r['sync_rps']:.0f}",
                 f"{r['submit_p50_ms']:.3f}", f"{r['submit_p99_ms']:.3f}", f"{r['submit_rps']:.0f}",
                 f"{r['ratio']:.2f}", f"{r['jobs_per_s']:.0f}", f"{r['tail_ms']:.1f}",
                 f"{d['completed']}/{r['submitted']}", f"{d['failed']}/{d['missing']}/{d['pending']}")  # fmt: skip
        lines.append(" | ".join(c.rjust(len(h)) for c, h in zip(cells, head, strict=True)))
    return "\n".join(lines)


def start_gateway(args: argparse.Namespace, tmp: Path) -> servers.Server:
    config = {"providers": {"mock": {"options": {"latency_ms": 0}}}}
    return servers.spawn_gateway("gateway", config, log_dir=tmp, cwd=ROOT, uvloop=args.uvloop)


def _raise_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # before the loop runs: unwinds through the finally that stops the gateway


def run_measure(args: argparse.Namespace, origin: str) -> list[dict[str, Any]] | None:
    """The measurement on its own loop; Ctrl-C or SIGTERM cancel it (None) so the client session closes."""
    loop = new_loop(args.uvloop)
    task = loop.create_task(measure(args, origin))
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        return loop.run_until_complete(task)
    except asyncio.CancelledError:
        return None
    finally:
        loop.close()
        signal.signal(signal.SIGTERM, _raise_exit)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_exit)
    with tempfile.TemporaryDirectory(prefix="gateway-async-bench-") as tmp_name:
        gateway = start_gateway(args, Path(tmp_name))
        try:
            servers.wait_ready(gateway, timeout_s=30.0)
            print(f"gateway pid {gateway.proc.pid} on {gateway.origin}", flush=True)
            rows = run_measure(args, gateway.origin)
        except KeyboardInterrupt:  # Ctrl-C before the measurement started
            rows = None
        finally:
            servers.stop(gateway)
    if rows is None:
        print("\ninterrupted", file=sys.stderr)
        return 130
    print(f"\nuvloop: {args.uvloop}  jobs: {args.jobs}  sync requests: {args.sync_requests}  (ms; ratio = submit p50 "
          "/ sync p50, target <= 2.0; jobs/s, tail: first / last submit -> last completed_at)\n")  # fmt: skip
    print(table(rows))
    for row in (r for r in rows if r["first_error"]):
        print(f"first error at c{row['concurrency']}: {row['first_error']}")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows}, indent=2))
    return 0 if all(r["ok"] and r["submitted"] == args.jobs for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
