"""What injecting 50 MCP tools costs a call, in one run.

Run from the repository root::

    .venv/bin/python -m bench.mcp_injection --uvloop --repeat 3

Two gateways in front of the same fake upstream (0 ms latency), Anthropic JSON at concurrency 1: one with an MCP
server of 50 tools configured (`bench/mcp_server.py` over stdio: every call is sent the 50 tools), one without.
Reported: p50 and `cpu us/req` of each, and what the injection adds (its hook, the tools' translation and the
re-encoded body: a call that gets tools is no longer relayed as the client's bytes).
"""

from __future__ import annotations

import sys
from typing import Any

from bench.pairs import c1_pair, options, report
from bench.scenarios import gateway_config
from bench.structured_output import body


def with_tools(upstream_origin: str) -> dict[str, Any]:
    config = gateway_config(upstream_origin)
    stdio = {"command": sys.executable, "args": ["-m", "bench.mcp_server"]}
    config["mcp"] = {"client_configs": [{"name": "bench", "connection_type": "stdio", "stdio_config": stdio}]}
    return config


def main(argv: list[str] | None = None) -> None:
    args = options(__doc__, argv)
    cells = c1_pair(args, gateway_config, with_tools, body(False))
    added, cpu = report("anthropic_json c1", cells, ("no MCP tools", "50 MCP tools injected"))
    print(f"injection adds {added:.0f} us to the p50, {cpu:.0f} us of CPU")


if __name__ == "__main__":
    main()
