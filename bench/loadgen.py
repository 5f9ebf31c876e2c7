"""Closed-loop HTTP load generator for one benchmark cell, run in its own process.

Reads a ``CellSpec`` as JSON on stdin, prints a ``CellResult`` as JSON on stdout. ``concurrency`` workers
share one aiohttp ``ClientSession`` on uvloop whose connector is limited to ``concurrency`` keep-alive
connections; each worker sends its next request as soon as the previous one is fully read. A warm-up phase
(opens the connections, fills caches) runs first and is not measured; both phases stop at whichever comes
first, their request count or their duration, and every request has its own timeout, so the process ends.

Latency is measured from just before the request is sent: ``ttlb`` when the body has been read to its end,
``ttfb`` when the first body bytes arrive (for SSE: the first event, which is what a user sees). A response
counts as an error unless it is a 200 whose last bytes contain ``expect_tail`` (e.g. ``message_stop``).
"""

from __future__ import annotations

import asyncio
import math
import sys
import time

import aiohttp
import msgspec

from bench.upstream import new_loop

_TAIL_KEEP = 256  # bytes of the body end kept to check that a stream really finished


class CellSpec(msgspec.Struct):
    url: str
    body: str
    headers: dict[str, str]
    concurrency: int
    requests: int
    duration_s: float
    warmup_requests: int
    warmup_s: float
    expect_tail: str
    timeout_s: float = 30.0


class CellResult(msgspec.Struct):
    ok: int
    errors: int
    issued_total: int  # including warm-up, to turn server CPU time into CPU per request
    elapsed_s: float
    rps: float
    p50_ms: float
    p99_ms: float
    ttfb_p50_ms: float
    ttfb_p99_ms: float
    first_error: str = ""


class _Phase:
    """Mutable state shared by the workers of one phase."""

    def __init__(self, requests: int, duration_s: float) -> None:
        self.limit = requests
        self.deadline = time.perf_counter() + duration_s
        self.issued = 0
        self.errors = 0
        self.first_error = ""
        self.ttfb: list[float] = []
        self.ttlb: list[float] = []

    def take(self) -> bool:
        """Claim the right to send one more request, if count and time allow."""
        if self.issued >= self.limit or time.perf_counter() >= self.deadline:
            return False
        self.issued += 1
        return True

    def fail(self, reason: str) -> None:
        self.errors += 1
        self.first_error = self.first_error or reason


async def _one(session: aiohttp.ClientSession, spec: CellSpec, body: bytes, phase: _Phase) -> None:
    expect = spec.expect_tail.encode()
    t0 = time.perf_counter()
    first = 0.0
    tail = b""
    async with session.post(spec.url, data=body, headers=spec.headers) as resp:
        async for chunk in resp.content.iter_any():
            if not first:
                first = time.perf_counter()
            tail = (tail + chunk)[-_TAIL_KEEP:]
    end = time.perf_counter()
    if resp.status != 200 or expect not in tail:
        phase.fail(f"status {resp.status}, body ends {tail[-120:]!r}")
        return
    phase.ttfb.append(first - t0)
    phase.ttlb.append(end - t0)


async def _worker(session: aiohttp.ClientSession, spec: CellSpec, body: bytes, phase: _Phase) -> None:
    while phase.take():
        try:
            await _one(session, spec, body, phase)
        except (aiohttp.ClientError, TimeoutError) as exc:
            phase.fail(repr(exc))


async def _run_phase(session: aiohttp.ClientSession, spec: CellSpec, requests: int, duration_s: float) -> _Phase:
    phase = _Phase(requests, duration_s)
    body = spec.body.encode()
    await asyncio.gather(*(_worker(session, spec, body, phase) for _ in range(spec.concurrency)))
    return phase


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile in milliseconds; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(pct / 100.0 * len(ordered))))
    return ordered[rank - 1] * 1000.0


async def run_cell(spec: CellSpec) -> CellResult:
    connector = aiohttp.TCPConnector(limit=spec.concurrency, limit_per_host=spec.concurrency)
    timeout = aiohttp.ClientTimeout(total=spec.timeout_s)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        warm = await _run_phase(session, spec, spec.warmup_requests, spec.warmup_s)
        start = time.perf_counter()
        phase = await _run_phase(session, spec, spec.requests, spec.duration_s)
        elapsed = time.perf_counter() - start
    ok = len(phase.ttlb)
    return CellResult(
        ok=ok,
        errors=phase.errors + warm.errors,
        issued_total=warm.issued + phase.issued,
        elapsed_s=elapsed,
        rps=ok / elapsed if elapsed > 0 else 0.0,
        p50_ms=percentile(phase.ttlb, 50),
        p99_ms=percentile(phase.ttlb, 99),
        ttfb_p50_ms=percentile(phase.ttfb, 50),
        ttfb_p99_ms=percentile(phase.ttfb, 99),
        first_error=phase.first_error or warm.first_error,
    )


def main() -> None:
    spec = msgspec.json.decode(sys.stdin.buffer.read(), type=CellSpec)
    loop = new_loop(True)  # the load generator always wants the cheapest client loop available
    try:
        result = loop.run_until_complete(run_cell(spec))
    finally:
        loop.close()
    sys.stdout.buffer.write(msgspec.json.encode(result) + b"\n")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # Ctrl-C reaches the whole foreground group; the runner reports it
        sys.exit(130)
