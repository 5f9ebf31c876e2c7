"""What the `otel` plugin costs a call, in one run.

Run from the repository root::

    .venv/bin/python -m bench.otel --uvloop --repeat 3

Two gateways in front of the same fake upstream (0 ms latency), Anthropic JSON at concurrency 1: one with the
`otel` plugin exporting to the fake upstream's `/v1/traces` (an OTLP/HTTP sink), one without it. Reported: p50 and
`cpu us/req` of each (the exporter's thread is in the gateway's process, so its CPU counts), and what tracing
adds: a request span and an attempt span per call, the `traceparent` header upstream, and the batched export.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench import servers
from bench.pairs import options, report, spawn_upstream
from bench.run import ROOT
from bench.scenarios import gateway_config
from bench.structured_output import measure


def traced(upstream_origin: str) -> dict[str, Any]:
    config = gateway_config(upstream_origin)
    entry = {"name": "otel", "config": {"collector_url": upstream_origin + "/v1/traces"}}
    config["plugins"] = [*config.get("plugins", []), entry]
    return config


def main(argv: list[str] | None = None) -> None:
    args = options(__doc__, argv)
    cells: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
    with tempfile.TemporaryDirectory(prefix="bench-otel-") as tmp:
        upstream = spawn_upstream(Path(tmp))
        spawned = {
            on: servers.spawn_gateway(f"gateway-{on}", config, log_dir=Path(tmp), cwd=ROOT, uvloop=args.uvloop)
            for on, config in ((False, gateway_config(upstream.origin)), (True, traced(upstream.origin)))
        }
        try:
            for server in (upstream, *spawned.values()):
                servers.wait_ready(server)
            for _ in range(args.repeat):
                for on in (False, True):  # interleaved: the machine's drift hits both alike
                    cells[on].append(measure(spawned[on], False, args.requests))
        finally:
            for server in (*spawned.values(), upstream):
                servers.stop(server)
    added, cpu = report("anthropic_json c1", cells, ("otel off", "otel on (OTLP/HTTP export)"))
    print(f"tracing adds {added:.0f} us to the p50, {cpu:.0f} us of CPU per request")


if __name__ == "__main__":
    main()
