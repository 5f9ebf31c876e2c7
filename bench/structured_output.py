"""What structured output costs a call that gets a valid answer, in one run.

Run from the repository root::

    .venv/bin/python -m bench.structured_output --uvloop --repeat 3

The gateway in front of the fake upstream (0 ms latency), Anthropic JSON at concurrency 1: the same ~2 KB JSON
answer (30 string properties) asked for with `output_config.format` and a 30-property schema (native mode:
validated by the plugin) and without it (not validated). Reported: p50 and `cpu us/req` of each, and what the
validated call adds. The validator alone on 2 KB and 200 KB answers: `python -m bench.structured_validation`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import msgspec

from bench import servers
from bench.pairs import anthropic_c1, options, report, spawn_upstream
from bench.run import ROOT
from bench.scenarios import gateway_config
from bench.upstream import JSON_MODEL_PREFIX, json_document

MODEL = f"anthropic/{JSON_MODEL_PREFIX}claude"


def schema() -> dict[str, Any]:
    fields = json_document()
    return {
        "type": "object",
        "properties": {name: {"type": "string", "minLength": 1} for name in fields},
        "required": list(fields),
        "additionalProperties": False,
    }


def body(validated: bool) -> str:
    request: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "The record, as JSON."}],
    }
    if validated:
        request["output_config"] = {"format": {"type": "json_schema", "schema": schema()}}
    return msgspec.json.encode(request).decode()


def measure(gateway: servers.Server, validated: bool, requests: int) -> dict[str, Any]:
    return anthropic_c1(gateway, body(validated), requests)


def main(argv: list[str] | None = None) -> None:
    args = options(__doc__, argv)
    cells: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
    with tempfile.TemporaryDirectory(prefix="bench-so-") as tmp:
        upstream = spawn_upstream(Path(tmp))
        gateway = servers.spawn_gateway(
            "gateway", gateway_config(upstream.origin), log_dir=Path(tmp), cwd=ROOT, uvloop=args.uvloop
        )
        try:
            for server in (upstream, gateway):
                servers.wait_ready(server)
            for _ in range(args.repeat):
                for validated in (False, True):  # interleaved: the machine's drift hits both alike
                    cells[validated].append(measure(gateway, validated, args.requests))
        finally:
            servers.stop(gateway)
            servers.stop(upstream)
    labels = ("not validated", "validated (native)")
    added, cpu = report("anthropic_json c1, ~2 KB JSON answer", cells, labels)
    print(f"validation adds {added:.0f} us to the p50, {cpu:.0f} us of CPU per request")


if __name__ == "__main__":
    main()
