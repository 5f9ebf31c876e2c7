"""`gateway serve --config PATH` and `gateway check-config PATH` (also `python -m gateway ...`).

`serve` is one process, as it always was, unless `--workers N` asks for a supervisor and N workers
(`gateway.supervisor`); a worker is this very `serve` with `--worker-fds` (hidden: the supervisor's, not a user's).

Exit codes (the README's "Command line"): 0 a clean stop, 1 the gateway could not start (a port in use, a bad
host, an app dir it cannot use or another gateway holds; `check-config`: the file has errors), 2 a usage or
config error. Every failure is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from aiohttp import web
from msgspec.structs import replace

from .config import ConfigError, PluginEntry, Settings
from .keys import APP_DIR, CATALOG, PLUGINS, SETTINGS
from .loading import first_problem, invalid, load_config
from .logformat import LEVELS, LogFormat, configure, startup_fields, startup_line
from .startup import EXIT_FAILED, EXIT_USAGE, StartupError

DEFAULT_DRAIN_TIMEOUT_S = 30.0
MAX_DRAIN_TIMEOUT_S = 3600.0
MAX_WORKERS = 256


@dataclass(frozen=True)
class LogOptions:
    level: str = "INFO"
    format: LogFormat = "text"


class _Parser(argparse.ArgumentParser):
    """argparse's errors in one line (it prints the usage first), with where to look."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"gateway: {message} (see `{self.prog} --help`)\n")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "check-config":
        return check_config(args.path, strict=args.strict_config)
    if args.command == "schema":
        print(config_schema())
        return 0
    if args.command == "new-plugin":
        return new_plugin_command(args.name, args.dir)
    if args.admin_host is not None and args.admin_port is None:
        print("gateway: --admin-host needs --admin-port", file=sys.stderr)
        return EXIT_USAGE
    admin = (args.admin_host or args.host, args.admin_port) if args.admin_port is not None else None
    if args.log_level not in LEVELS:  # argparse checks a given --log-level, not its default from the environment
        print(f"gateway: GATEWAY_LOG_LEVEL {args.log_level!r} is not one of {', '.join(LEVELS)}", file=sys.stderr)
        return EXIT_USAGE
    logs = LogOptions(level=args.log_level, format=args.log_format)
    if args.workers is not None:
        return _supervise(args, logs)
    return serve(
        args.config,
        args.host,
        args.port,
        args.app_dir,
        admin,
        strict=args.strict_config,
        logs=logs,
        metrics_port=args.metrics_port,
        drain_timeout=args.drain_timeout,
        worker_fds=args.worker_fds,
    )


def _supervise(args: argparse.Namespace, logs: LogOptions) -> int:
    """`--workers N`: the workers' command line is this one's, their ports the ones the supervisor bound."""
    from .app import DEFAULT_APP_DIR
    from .supervisor import Plan, supervise

    if args.metrics_port is not None and args.workers > 1:
        print("gateway: --metrics-port serves one process's metrics: not with --workers > 1", file=sys.stderr)
        return EXIT_USAGE
    configure(logs.level, logs.format)
    app_dir = (args.app_dir or DEFAULT_APP_DIR).absolute()
    argv = ["--config", args.config, "--host", args.host, "--app-dir", str(app_dir)]
    argv += ["--log-level", logs.level, "--log-format", logs.format, "--drain-timeout", str(args.drain_timeout)]
    argv += ["--strict-config"] if args.strict_config else []
    argv += ["--metrics-port", str(args.metrics_port)] if args.metrics_port is not None else []
    listeners = [(args.host, args.port, "--port")]
    if args.admin_port is not None:
        argv += ["--admin-host", args.admin_host or args.host]
        listeners.append((args.admin_host or args.host, args.admin_port, "--admin-port"))
    plan = Plan(args.config, args.workers, args.strict_config, args.drain_timeout, argv, listeners, app_dir)
    return supervise(plan)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gateway", description="LLM gateway (Anthropic and OpenAI dialects)")
    parser.add_argument("--version", action="version", version=version_line())
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="run the gateway")
    serve_cmd.add_argument("--config", required=True, help="path of the JSON config file")
    serve_cmd.add_argument("--host", default="127.0.0.1")
    serve_cmd.add_argument("--port", type=port_number, default=8080, help="1-65535, or 0 for any free port")
    serve_cmd.add_argument("--app-dir", type=Path, default=None, help="where the gateway keeps its data")
    serve_cmd.add_argument(
        "--admin-port", type=port_number, default=None, help="serve the admin API (/api/...) on this port only"
    )
    serve_cmd.add_argument("--admin-host", default=None, help="the admin listener's address (default: --host)")
    serve_cmd.add_argument(
        "--metrics-port",
        type=port_number,
        default=None,
        help="serve /metrics (the metrics plugin, enabled) on this port",
    )
    serve_cmd.add_argument(
        "--workers",
        type=worker_count,
        default=None,
        help="run N worker processes on one port under a supervisor (SIGHUP reloads; N > 1 needs `redis`)",
    )
    serve_cmd.add_argument(
        "--drain-timeout",
        type=drain_seconds,
        default=DEFAULT_DRAIN_TIMEOUT_S,
        help="seconds a stopping gateway lets requests and streams in flight finish (default: 30)",
    )
    # The supervisor's: the listening sockets (inherited descriptors) a worker serves on.
    serve_cmd.add_argument("--worker-fds", type=descriptors, default=(), help=argparse.SUPPRESS)
    serve_cmd.add_argument(
        "--log-level",
        type=str.upper,
        choices=LEVELS,
        default=os.environ.get("GATEWAY_LOG_LEVEL", "INFO").upper(),
        help="the least severe log records written (default: $GATEWAY_LOG_LEVEL or INFO; access lines are INFO)",
    )
    serve_cmd.add_argument(
        "--log-format", choices=("text", "json"), default="text", help="text lines, or one JSON object a line"
    )
    check = commands.add_parser("check-config", help="validate a config file and print every error")
    check.add_argument("path")
    for command in (serve_cmd, check):
        command.add_argument(
            "--strict-config",
            action="store_true",
            help="refuse Bifrost settings this gateway does not implement (by default: a warning each)",
        )
    commands.add_parser("schema", help="print the JSON Schema of the config file (kept in config/schema.json)")
    scaffold = commands.add_parser("new-plugin", help="write an installable plugin package to start from")
    scaffold.add_argument("name", help="the plugin's name: its package, entry point and config name")
    scaffold.add_argument("--dir", type=Path, default=Path("."), help="where to put it (default: here)")
    return parser


def port_number(text: str) -> int:
    """A TCP port (0: any free one, which `serve` then prints); argparse makes a ValueError a usage error."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535, or 0 for any free port)")
    return port


def worker_count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of workers (1-{MAX_WORKERS})")
    return int(text)


def descriptors(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of descriptors") from None


def drain_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= MAX_DRAIN_TIMEOUT_S:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (0-{MAX_DRAIN_TIMEOUT_S:g})")
    return seconds


def version_line() -> str:
    from .api import VERSION
    from .http.index import package_version

    return f"gateway {package_version()} (plugin API {VERSION})"


def config_schema() -> str:
    """The config's JSON Schema, with the sections that built-in plugins own (governance) spelled out."""
    import json

    import msgspec

    from .config import Settings
    from .plugins import load_plugins

    loaded = load_plugins(Settings())
    schema = msgspec.json.schema(Settings)
    for name, section_type in loaded.sections.items():
        sub = msgspec.json.schema(section_type)
        _merge_defs(schema["$defs"], sub.pop("$defs", {}), name)
        schema["$defs"]["Settings"]["properties"][name] = sub
    rules = []  # a plugins[] entry's config, typed by the entry's name (built-in plugins' configs)
    for name, config_type in sorted(loaded.config_types.items()):
        if not config_type.__module__.startswith("gateway_plugins."):
            continue  # a third-party plugin installed here is no part of the gateway's schema
        sub = msgspec.json.schema(config_type)
        _merge_defs(schema["$defs"], sub.pop("$defs", {}), name)
        named = {"properties": {"name": {"const": name}}, "required": ["name"]}
        rules.append({"if": named, "then": {"properties": {"config": sub}}})
    if rules:
        schema["$defs"]["PluginEntry"]["allOf"] = rules
    return json.dumps(schema, indent=2, sort_keys=True)


def _merge_defs(defs: dict[str, Any], more: dict[str, Any], owner: str) -> None:
    """Add a plugin's definitions to the schema's; one named like another but different would silently replace it
    (a plugin Struct called `ClientConfig` once did, to the core's): that is a bug to rename, said loudly."""
    for key, value in more.items():
        if key in defs and defs[key] != value:
            raise ValueError(f"config schema: {owner!r} defines {key!r}, which another part of the config defines")
        defs[key] = value


def new_plugin_command(name: str, parent: Path) -> int:
    from .scaffold import new_plugin

    try:
        root = new_plugin(name, parent)
    except ValueError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote {root}: cd {root} && pip install -e '.[test]' && pytest -q")
    return 0


def check_config(path: str, *, strict: bool = False) -> int:
    """Every error of the file in one pass (schema, plugins, governance), then its warnings."""
    try:
        loaded = load_config(path, strict=strict)
    except ConfigError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        return 1
    for line in loaded.warnings:
        print(f"warning: {line}", file=sys.stderr)
    print(f"{path}: ok" + (f" ({len(loaded.warnings)} warnings)" if loaded.warnings else ""))
    return 0


def serve(
    config_path: str,
    host: str,
    port: int,
    app_dir: Path | None,
    admin: tuple[str, int] | None = None,
    *,
    strict: bool = False,
    metrics_port: int | None = None,
    logs: LogOptions = LogOptions(),
    drain_timeout: float = DEFAULT_DRAIN_TIMEOUT_S,
    worker_fds: tuple[int, ...] = (),
) -> int:
    from .app import create_app

    configure(logs.level, logs.format)
    try:
        loaded = load_config(config_path, strict=strict)
        for line in loaded.warnings:
            logging.getLogger("gateway.config").warning("%s", line)
        settings = loaded.settings if metrics_port is None else with_metrics_port(loaded.settings, host, metrics_port)
        app = create_app(settings, app_dir=app_dir, lock_app_dir=not worker_fds)
        app[CATALOG].load()  # now, not in the first call (about 0.15 s)
    except ConfigError as exc:
        print(first_problem(config_path, invalid(config_path, exc)), file=sys.stderr)
        return EXIT_USAGE
    loop = _event_loop()
    try:
        how = Serving(config_path, logs.format, drain_timeout, worker_fds)
        loop.run_until_complete(_serve_until_signalled(app, host, port, admin, how))
    except StartupError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        loop.close()
    return 0


def with_metrics_port(settings: Settings, host: str, port: int) -> Settings:
    """`--metrics-port`: the metrics plugin enabled (its plugins[] entry added if missing), serving /metrics on
    `port` (its `config.port`) on the main listener's --host."""
    entries = [entry for entry in settings.plugins if entry.name != "metrics"]
    entry = next((entry for entry in settings.plugins if entry.name == "metrics"), PluginEntry(name="metrics"))
    config = {"host": host, **entry.config, "port": port}
    return replace(settings, plugins=[*entries, replace(entry, enabled=True, config=config)])


@dataclass(frozen=True)
class Serving:
    config_path: str
    log_format: LogFormat
    drain_timeout: float
    # A worker of `--workers`: it serves on the supervisor's sockets and stops when its supervisor is gone.
    worker_fds: tuple[int, ...]


async def _serve_until_signalled(
    app: web.Application, host: str, port: int, admin: tuple[str, int] | None, how: Serving
) -> None:
    """Serve until SIGINT or SIGTERM, then drain: new connections refused, those in flight given
    `how.drain_timeout` seconds (`gateway.readiness`)."""
    from .http.server import listen
    from .readiness import DRAIN_MARGIN_S, drain
    from .supervisor import stop_when_orphaned

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # A lone process has nobody to start a new one for it; a worker leaves reloads to its supervisor.
    loop.add_signal_handler(signal.SIGHUP, _sighup_ignored, bool(how.worker_fds))
    admin_host, admin_port = admin if admin is not None else (None, None)
    served = await listen(
        app,
        host,
        port,
        admin_host=admin_host,
        admin_port=admin_port,
        access_log=True,
        shutdown_timeout=how.drain_timeout + DRAIN_MARGIN_S,
        sockets=[socket.socket(fileno=fd) for fd in how.worker_fds],
    )
    orphan = asyncio.create_task(stop_when_orphaned(stop)) if how.worker_fds else None
    try:
        fields = startup_fields(
            served.url, how.config_path, app[APP_DIR], app[SETTINGS].providers, app[PLUGINS].pm.list_name_plugin()
        )
        print(startup_line(fields, how.log_format), flush=True)
        if served.admin_url is not None:
            print(f"gateway admin API on {served.admin_url}", flush=True)
        await stop.wait()
    finally:
        if orphan is not None:
            orphan.cancel()
        await drain(app, served.close, how.drain_timeout)


def _sighup_ignored(worker: bool) -> None:
    if not worker:
        logging.getLogger("gateway").warning("SIGHUP: reloading the config needs `gateway serve --workers N`")


def _event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (the `fast` extra; ~30% more requests/s here) unless GATEWAY_UVLOOP=0."""
    if os.environ.get("GATEWAY_UVLOOP", "1") != "0":
        try:
            import uvloop

            return uvloop.new_event_loop()
        except ImportError:
            pass
    return asyncio.new_event_loop()
