"""What one agent-mode round costs in the gateway itself, beyond the model's and the tool's own time.

Run from the repository root::

    .venv/bin/python -m bench.mcp_agent --uvloop --repeat 3

One gateway with `bench/mcp_server.py` over stdio (its tools auto-executed) in front of the fake upstream (0 ms),
Anthropic JSON at concurrency 1. The model `agent-0` answers at once; `agent-N` calls a tool until the
conversation holds N results (N rounds, N+1 model calls). Also measured alone, same run: one call to the fake
upstream with the last round's body, and one tool call with the `mcp` package's client on a server of its own.

    per round = (p50(agent-N) - p50(agent-0)) / N - model call - tool call

what the gateway adds per round: the tool's session round trip on its side, the next request built, translated and
sent, the answer decoded and decided on.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from bench import servers
from bench.pairs import ANTHROPIC_HEADERS, anthropic_c1, options, spawn_upstream
from bench.run import ROOT
from bench.scenarios import gateway_config
from bench.upstream import AGENT_TOOL

ROUNDS = 3


def agent_config(upstream_origin: str) -> dict[str, Any]:
    config = gateway_config(upstream_origin)
    stdio = {"command": sys.executable, "args": ["-m", "bench.mcp_server"]}
    client = {"name": "bench", "connection_type": "stdio", "stdio_config": stdio, "tools_to_auto_execute": ["*"]}
    config["mcp"] = {"client_configs": [client]}
    return config


def body(rounds: int) -> str:
    return (
        f'{{"model": "anthropic/agent-{rounds}", "max_tokens": 64,'
        ' "messages": [{"role": "user", "content": "look it up"}]}'
    )


def measure(gateway: servers.Server, rounds: int, requests: int) -> float:
    result = anthropic_c1(gateway, body(rounds), requests, warmup=50)
    assert not result["errors"], result
    return float(result["p50_ms"])


async def model_call_ms(upstream: servers.Server, requests: int) -> float:
    """One call to the fake upstream with a body like the last round's (the conversation and the 50 tools)."""
    results = "".join(
        f',{{"role": "assistant", "content": [{{"type": "tool_use", "id": "t{i}", "name": "{AGENT_TOOL}",'
        f' "input": {{"query": "bench"}}}}]}}, {{"role": "user", "content": [{{"type": "tool_result",'
        f' "tool_use_id": "t{i}", "content": "bench"}}]}}'
        for i in range(ROUNDS)
    )
    payload = body(ROUNDS).replace('"look it up"}]', '"look it up"}' + results + "]").encode()
    async with aiohttp.ClientSession() as session:
        return await _p50(requests, lambda: _post(session, upstream.origin + "/v1/messages", payload))


async def _post(session: aiohttp.ClientSession, url: str, payload: bytes) -> None:
    async with session.post(url, data=payload, headers=ANTHROPIC_HEADERS) as response:
        await response.read()


async def tool_call_ms(requests: int) -> float:
    params = StdioServerParameters(command=sys.executable, args=["-m", "bench.mcp_server"], cwd=str(ROOT))
    async with Client(stdio_client(params)) as client:
        return await _p50(requests, lambda: client.call_tool("lookup_00", {"query": "bench"}))


async def _p50(requests: int, once: Any) -> float:
    for _ in range(min(50, requests)):
        await once()
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        await once()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    args = options(__doc__, argv)
    requests = min(args.requests, 500)
    plain: list[float] = []
    agent: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-agent-") as tmp:
        upstream = spawn_upstream(Path(tmp))
        gateway = servers.spawn_gateway(
            "gateway", agent_config(upstream.origin), log_dir=Path(tmp), cwd=ROOT, uvloop=args.uvloop
        )
        try:
            for server in (upstream, gateway):
                servers.wait_ready(server)
            for _ in range(args.repeat):
                plain.append(measure(gateway, 0, requests))
                agent.append(measure(gateway, ROUNDS, requests))
            model = asyncio.run(model_call_ms(upstream, requests))
        finally:
            for server in (gateway, upstream):
                servers.stop(server)
    tool = asyncio.run(tool_call_ms(requests))
    p_plain, p_agent = statistics.median(plain), statistics.median(agent)
    per_round = (p_agent - p_plain) / ROUNDS - model - tool
    print(f"{'cell':<40} {'p50 ms':>8}")
    for label, value in (
        ("no round (agent-0)", p_plain),
        (f"{ROUNDS} rounds (agent-{ROUNDS})", p_agent),
        ("model call alone (fake upstream)", model),
        ("tool call alone (mcp client, stdio)", tool),
    ):
        print(f"{label:<40} {value:>8.3f}")
    print(f"agent mode adds {per_round * 1000:.0f} us per round beyond the model's and the tool's own time")


if __name__ == "__main__":
    main()
