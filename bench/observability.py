"""What the observability plugins cost the hot path, in one run.

Run from the repository root::

    .venv/bin/python -m bench.observability --uvloop --repeat 3 [--plugins metrics,logging]

Two gateways in front of the same fake upstream (0 ms latency), Anthropic JSON: one with the plugins named by
`--plugins` (default: `metrics`, with a custom label filled by an `x-bf-dim-tenant` header, and `logging`, the
request log with content off), one without. Two cells each, interleaved: concurrency 64 (req/s, the throughput
cost) and concurrency 1 (p50 and `cpu us/req`, the latency cost). The c64 cell's `cpu us/req` is printed too:
there the gateway is CPU-bound, so req/s follows its CPU per request, which is steadier on a shared machine.
/metrics is scraped once at the end, to check the calls were counted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from bench import servers
from bench.pairs import ANTHROPIC_HEADERS, anthropic_c1, options, report, spawn_upstream
from bench.run import ROOT
from bench.scenarios import gateway_config

BODY = '{"model":"claude-x","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}'
HEADERS = {**ANTHROPIC_HEADERS, "x-bf-dim-tenant": "bench"}


def with_plugins(upstream_origin: str, names: list[str]) -> dict[str, Any]:
    config = gateway_config(upstream_origin)
    config["client"] = {"prometheus_labels": ["tenant"], "disable_content_logging": True}
    config["plugins"] = [{"name": name} for name in names]
    return config


def main(argv: list[str] | None = None) -> None:
    args, names = _options(argv)
    latency: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
    throughput: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as tmp:
        upstream = spawn_upstream(Path(tmp))
        spawned = {
            on: servers.spawn_gateway(f"gateway-{on}", config, log_dir=Path(tmp), cwd=ROOT, uvloop=args.uvloop)
            for on, config in ((False, gateway_config(upstream.origin)), (True, with_plugins(upstream.origin, names)))
        }
        try:
            for server in (upstream, *spawned.values()):
                servers.wait_ready(server)
            for _ in range(args.repeat):
                for on in (False, True):  # interleaved: the machine's drift hits both alike
                    c64 = anthropic_c1(spawned[on], BODY, args.requests * 5, 500, concurrency=64, headers=HEADERS)
                    throughput[on].append(c64)
                    latency[on].append(anthropic_c1(spawned[on], BODY, args.requests, headers=HEADERS))
            scraped = _scrape(spawned[True]) if "metrics" in names else ""
        finally:
            for server in (*spawned.values(), upstream):
                servers.stop(server)
    label = "+".join(names)
    added, cpu = report("anthropic_json c1", latency, (f"{label} off", f"{label} on"))
    off, on = (statistics.median(cell["rps"] for cell in throughput[flag]) for flag in (False, True))
    print(f"anthropic_json c64 req/s: off {off:.0f}, on {on:.0f} ({(on - off) / off * 100:+.1f}%)")
    off, on = (statistics.median(cell["cpu_us_per_req"] for cell in throughput[flag]) for flag in (False, True))
    print(f"anthropic_json c64 cpu us/req: off {off:.0f}, on {on:.0f} ({on - off:+.0f} us)")
    print(f"{label} add {added:.0f} us to the c1 p50, {cpu:.0f} us of CPU per request")
    counted = [line for line in scraped.splitlines() if line.startswith("bifrost_success_requests_total{")]
    print("counted:", *counted, sep="\n  ")


def _options(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    argv = list(argv if argv is not None else sys.argv[1:])
    names = ["metrics", "logging"]
    if "--plugins" in argv:
        at = argv.index("--plugins")
        names = [name for name in argv[at + 1].split(",") if name]
        del argv[at : at + 2]
    return options(__doc__, argv), names


def _scrape(gateway: servers.Server) -> str:
    return str(urllib.request.urlopen(gateway.origin + "/metrics", timeout=10).read().decode())


if __name__ == "__main__":
    main()
