"""What the `otel` plugin costs a call, in one run.

Run from the repository root::

    .venv/bin/python -m bench.otel --uvloop --repeat 3

Two gateways in front of the same fake upstream (0 ms latency), Anthropic JSON at concurrency 1: one with the
`otel` plugin exporting to the fake upstream's `/v1/traces` (an OTLP/HTTP sink), one without it. Reported: p50 and
`cpu us/req` of each (the exporter's thread is in the gateway's process, so its CPU counts), and what tracing
adds: a request span and an attempt span per call, the `traceparent` header upstream, and the batched export.
"""

from __future__ import annotations

from typing import Any

from bench.pairs import c1_pair, options, report
from bench.scenarios import gateway_config
from bench.structured_output import body


def traced(upstream_origin: str) -> dict[str, Any]:
    config = gateway_config(upstream_origin)
    entry = {"name": "otel", "config": {"collector_url": upstream_origin + "/v1/traces"}}
    config["plugins"] = [*config.get("plugins", []), entry]
    return config


def main(argv: list[str] | None = None) -> None:
    args = options(__doc__, argv)
    cells = c1_pair(args, gateway_config, traced, body(False))
    added, cpu = report("anthropic_json c1", cells, ("otel off", "otel on (OTLP/HTTP export)"))
    print(f"tracing adds {added:.0f} us to the p50, {cpu:.0f} us of CPU per request")


if __name__ == "__main__":
    main()
