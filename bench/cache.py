"""What the response cache gives and costs, in one run.

Run from the repository root::

    .venv/bin/python -m bench.cache --uvloop --repeat 3

1. A direct-mode hit (`semantic_cache`, memory store) against the bare aiohttp proxy answering from the fake
   upstream (0 ms latency), OpenAI JSON, ~1 KB prompt: p50 at concurrency 1 and req/s at concurrency 64, ratios
   hit/proxy. Goals: hit p50 <= 0.8x the proxy's, hit req/s >= 1.2x the proxy's. The gateway without a cache key
   (a proxied call through the gateway) is measured beside them for reference.
2. The semantic index in process: search p50 at 10,000 and 100,000 stored vectors of dimension 1536 (embedding
   call excluded). Goal: under 5 ms at 100,000.
   The local embedding model's load time and embed p50, and its index's search at dimension 256.
3. Memory per 100,000 entries: the direct store's (one ~1 KB answer each) and the semantic index's vectors,
   measured with tracemalloc.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from bench import servers
from bench.loadgen import CellSpec
from bench.run import ROOT, run_loadgen
from bench.scenarios import SCENARIOS, gateway_config

SCENARIO = SCENARIOS[0]  # openai_json
KEY = {"x-bf-cache-key": "bench"}


def start(tmp: Path, uvloop: bool) -> dict[str, servers.Server]:
    python, started = sys.executable, {}
    port = servers.free_port()
    started["upstream"] = servers.spawn(
        "upstream", [python, "-m", "bench.upstream", "--port", str(port)], port=port, log_dir=tmp, cwd=ROOT
    )
    upstream = started["upstream"].origin
    port = servers.free_port()
    argv = [python, "-m", "bench.proxy", "--port", str(port), "--upstream", upstream, *(["--uvloop"] * uvloop)]
    started["proxy"] = servers.spawn("proxy", argv, port=port, log_dir=tmp, cwd=ROOT)
    config = gateway_config(upstream) | {"plugins": [{"name": "semantic_cache", "config": {"ttl": "1h"}}]}
    started["gateway"] = servers.spawn_gateway("gateway", config, log_dir=tmp, cwd=ROOT, uvloop=uvloop)
    for server in started.values():
        servers.wait_ready(server)
    return started


def measure(origin: str, target: str, headers: dict[str, str], concurrency: int, requests: int) -> dict[str, Any]:
    spec = CellSpec(
        url=origin + SCENARIO.path(target),
        body=SCENARIO.body(target),
        headers=SCENARIO.headers() | headers,
        concurrency=concurrency,
        requests=requests,
        duration_s=10.0,
        warmup_requests=max(100, 4 * concurrency),  # the first request fills the entry
        warmup_s=3.0,
        expect_tail=SCENARIO.expect_tail(),
    )
    return run_loadgen(spec, pin=False)


def http_cells(args: argparse.Namespace) -> dict[tuple[str, int], list[dict[str, Any]]]:
    cells: dict[tuple[str, int], list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as tmp:
        started = start(Path(tmp), args.uvloop)
        try:
            for _ in range(args.repeat):
                for concurrency, requests in ((1, args.requests_c1), (64, args.requests)):
                    for label, server, target, headers in (
                        ("proxy", "proxy", "proxy", {}),
                        ("cache hit", "gateway", "gateway", KEY),
                        ("gateway, no cache", "gateway", "gateway", {}),
                    ):
                        result = measure(started[server].origin, target, headers, concurrency, requests)
                        cells.setdefault((label, concurrency), []).append(result)
        finally:
            for server in started.values():
                servers.stop(server)
    return cells


def semantic_figures(sizes: tuple[int, ...], dimension: int, searches: int) -> list[tuple[int, float, float]]:
    """(entries, search p50 ms, index MB) per size."""
    import numpy as np

    from gateway_plugins.semantic_cache.index import Index

    rng = np.random.default_rng(7)
    out = []
    for size in sizes:
        tracemalloc.start()
        index = Index(max_entries=size)
        later = time.time() + 3600
        for i in range(size):
            index.add("group", f"id{i}", rng.standard_normal(dimension, dtype=np.float32).tolist(), later)
        memory = tracemalloc.get_traced_memory()[0] / 1e6
        tracemalloc.stop()
        queries = [rng.standard_normal(dimension, dtype=np.float32).tolist() for _ in range(searches)]
        times = []
        for query in queries:
            start = time.perf_counter()
            index.search("group", query, 0.8)
            times.append((time.perf_counter() - start) * 1000)
        out.append((size, statistics.median(times), memory))
    return out


def local_embedding_figures(embeds: int) -> tuple[float, float, float]:
    """The bundled local model (`embedding_model: "local"`): load seconds, embed p50 in ms for a short question and
    for a 2,000-character text (the longest embedded on the event loop)."""
    from gateway_plugins.semantic_cache.embedders import load_local

    start = time.perf_counter()
    model = load_local(256)
    loaded = time.perf_counter() - start
    p50s = []
    for text in ("user: What is the capital of France?", ("user: " + "a sentence of about fifty characters. " * 55)):
        times = []
        for _ in range(embeds):
            start = time.perf_counter()
            model.embed([text])
            times.append((time.perf_counter() - start) * 1000)
        p50s.append(statistics.median(times))
    return loaded, p50s[0], p50s[1]


def direct_store_memory(entries: int) -> float:
    """MB that `entries` stored answers take in the memory store (aiocache's SimpleMemoryCache)."""
    from gateway.api import anthropic as a
    from gateway_plugins.semantic_cache.config import CacheStore
    from gateway_plugins.semantic_cache.store import Entry, EntryStore

    async def fill() -> float:
        text = "A cached answer of about one kilobyte. " * 26
        tracemalloc.start()
        store = EntryStore.configured(CacheStore(), None)
        for i in range(entries):
            message = a.Message(id=f"msg_{i}", model="gpt-x", content=[a.ContentBlock(type="text", text=text)],
                                stop_reason="end_turn", usage=a.Usage(input_tokens=250, output_tokens=260))  # fmt: skip
            await store.set(f"ns:{i:032x}", Entry(message=message, created=0.0, expires_at=time.time() + 3600), 3600)
        used = tracemalloc.get_traced_memory()[0] / 1e6
        tracemalloc.stop()
        await store.close()
        return used

    return asyncio.run(fill())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uvloop", action="store_true", help="proxy and gateway on uvloop")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--requests", type=int, default=5000, help="measured requests at concurrency 64")
    parser.add_argument("--requests-c1", type=int, default=1000, help="measured requests at concurrency 1")
    parser.add_argument("--dimension", type=int, default=1536)
    args = parser.parse_args(argv)
    cells = http_cells(args)
    print(f"{'openai_json (uvloop: ' + str(args.uvloop) + ')':<30} {'c1 p50 ms':>10} {'c64 req/s':>10}")
    figures = {}
    for label in ("proxy", "cache hit", "gateway, no cache"):
        p50 = statistics.median(r["p50_ms"] for r in cells[(label, 1)])
        rps = statistics.median(r["rps"] for r in cells[(label, 64)])
        errors = sum(r["errors"] for c in (1, 64) for r in cells[(label, c)])
        figures[label] = (p50, rps)
        print(f"{label:<30} {p50:>10.3f} {rps:>10.0f}   errors {errors}")
    p50_ratio = figures["cache hit"][0] / figures["proxy"][0]
    rps_ratio = figures["cache hit"][1] / figures["proxy"][1]
    print(f"hit/proxy p50 {p50_ratio:.2f}x (goal <= 0.8x): {'ok' if p50_ratio <= 0.8 else 'MISSED'}")
    print(f"hit/proxy req/s {rps_ratio:.2f}x (goal >= 1.2x): {'ok' if rps_ratio >= 1.2 else 'MISSED'}")
    print(f"\nsemantic index, dimension {args.dimension} (embedding call excluded):")
    for size, p50, memory in semantic_figures((10_000, 100_000), args.dimension, 200):
        verdict = "" if size != 100_000 else f" (goal < 5 ms: {'ok' if p50 < 5 else 'MISSED'})"
        print(f"  {size:>7} entries: search p50 {p50:.2f} ms{verdict}; index {memory:.0f} MB")
    loaded, short, long = local_embedding_figures(500)
    print(f"local embedding model: loads in {loaded:.2f} s; embed p50 {short:.3f} ms (a short question),"
          f" {long:.3f} ms (2,000 characters)")  # fmt: skip
    for size, p50, memory in semantic_figures((100_000,), 256, 200):
        print(f"  its index, {size:>7} entries of dimension 256: search p50 {p50:.2f} ms; index {memory:.0f} MB")
    print(f"direct store (memory), 100,000 entries of ~1 KB answers: {direct_store_memory(100_000):.0f} MB")


if __name__ == "__main__":
    main()
