"""`gateway serve --config PATH` and `gateway check-config PATH` (also `python -m gateway ...`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from aiohttp import web

from .config import ConfigError, read_config


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "check-config":
        return check_config(args.path)
    if args.command == "schema":
        print(config_schema())
        return 0
    return serve(args.config, args.host, args.port, args.app_dir)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description="LLM gateway (Anthropic and OpenAI dialects)")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="run the gateway")
    serve_cmd.add_argument("--config", required=True, help="path of the JSON config file")
    serve_cmd.add_argument("--host", default="127.0.0.1")
    serve_cmd.add_argument("--port", type=int, default=8080)
    serve_cmd.add_argument("--app-dir", type=Path, default=None, help="where the gateway keeps its data")
    check = commands.add_parser("check-config", help="validate a config file and print every error")
    check.add_argument("path")
    commands.add_parser("schema", help="print the JSON Schema of the config file (kept in config/schema.json)")
    return parser


def config_schema() -> str:
    """The config's JSON Schema, with the sections that built-in plugins own (governance) spelled out."""
    import json

    import msgspec

    from .config import Settings
    from .plugins import load_plugins

    sections = load_plugins(Settings()).sections
    schema = msgspec.json.schema(Settings)
    for name, section_type in sections.items():
        sub = msgspec.json.schema(section_type)
        schema["$defs"].update(sub.pop("$defs", {}))
        schema["$defs"]["Settings"]["properties"][name] = sub
    return json.dumps(schema, indent=2, sort_keys=True)


def check_config(path: str) -> int:
    from .plugins import load_plugins

    try:
        load_plugins(read_config(path))
    except ConfigError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        return 1
    print(f"{path}: ok")
    return 0


def serve(config_path: str, host: str, port: int, app_dir: Path | None) -> int:
    from .app import create_app

    logging.basicConfig(
        level=os.environ.get("GATEWAY_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        app = create_app(read_config(config_path), app_dir=app_dir)
    except ConfigError as exc:
        print(
            f"gateway: invalid config {config_path}: {exc.errors[0]}"
            + (
                f" (and {len(exc.errors) - 1} more; run `gateway check-config {config_path}`)"
                if len(exc.errors) > 1
                else ""
            ),
            file=sys.stderr,
        )
        return 2
    if app_dir is not None:
        app_dir.mkdir(parents=True, exist_ok=True)
    web.run_app(
        app,
        host=host,
        port=port,
        handler_cancellation=True,  # a client that leaves cancels its call, and so its upstream request
        access_log=None,
        print=_ready_printer(host, port),
        loop=_event_loop(),
    )
    return 0


def _event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (the `fast` extra; ~30% more requests/s here) unless GATEWAY_UVLOOP=0."""
    if os.environ.get("GATEWAY_UVLOOP", "1") != "0":
        try:
            import uvloop

            return uvloop.new_event_loop()
        except ImportError:
            pass
    return asyncio.new_event_loop()


def _ready_printer(host: str, port: int):  # type: ignore[no-untyped-def]
    def printer(_message: str) -> None:
        print(f"gateway listening on http://{host}:{port}", flush=True)

    return printer
