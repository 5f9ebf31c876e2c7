"""Real MCP servers for the tests (tests/mcp/server.py as subprocesses) and the gateway configs that use them."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from anthropic.types.beta import BetaRequestMCPServerURLDefinitionParam

from gateway.testing import FakeUpstream, Reply, anthropic_message, openai_completion, upstream_config

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "mcp-bearer-token-0123456789abcdef"  # the HTTP server's required bearer token
MESSAGES, CHAT = "/v1/messages", "/v1/chat/completions"
SERVER_TOOLS = ("add", "echo", "get_weather")  # tests/mcp/server.py's, sorted
ECHO_SCHEMA = {
    "type": "object",
    "properties": {"text": {"title": "Text", "type": "string"}},
    "required": ["text"],
    "title": "echoArguments",
}
START_TIMEOUT_S = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class HttpServer:
    """tests/mcp/server.py over streamable HTTP on 127.0.0.1:`port`, requiring `TOKEN`; started and stopped at
    will (a server that is down, comes up, restarts)."""

    def __init__(self, port: int | None = None, transport: str = "http") -> None:
        self.port = port or free_port()
        self.transport = transport  # "http" (streamable HTTP) or "sse"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{'sse' if self.transport == 'sse' else 'mcp'}"

    def start(self) -> None:
        command = [sys.executable, "-m", "tests.mcp.server", self.transport, str(self.port), TOKEN]
        self.process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return
            assert self.process.poll() is None, "the MCP test server exited"
            time.sleep(0.05)
        raise TimeoutError(f"the MCP test server did not listen on {self.port} within {START_TIMEOUT_S}s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=START_TIMEOUT_S)
            self.process = None


@contextlib.contextmanager
def http_server(port: int | None = None, transport: str = "http") -> Iterator[HttpServer]:
    server = HttpServer(port, transport)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def http_client(url: str, name: str = "docs", token: str = TOKEN, **fields: Any) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    return {"name": name, "connection_type": "http", "connection_string": url, "headers": headers, **fields}


def stdio_client(name: str = "local", **fields: Any) -> dict[str, Any]:
    stdio = {
        "command": sys.executable,
        "args": ["-m", "tests.mcp.server", "stdio"],
        "envs": {"PYTHONPATH": str(ROOT)},
    }
    return {"name": name, "connection_type": "stdio", "stdio_config": stdio, **fields}


def mcp_config(fake: FakeUpstream, *clients: dict[str, Any], **client_section: Any) -> dict[str, Any]:
    """Providers served by `fake` (answering every call), and the given MCP clients, checked and retried fast."""
    fake.default(MESSAGES, Reply.json(anthropic_message()))
    fake.default(CHAT, Reply.json(openai_completion()))
    config = upstream_config(fake.url, **client_section)
    config["mcp"] = {
        "client_configs": list(clients),
        "health_check_interval": 0.2,
        "reconnect_backoff_max": 0.5,
        "connect_timeout": 5,
    }
    return config


def sent_tool_names(fake: FakeUpstream, path: str = MESSAGES) -> list[str]:
    """The tool names the last call to `path` carried (Anthropic's `name`, or OpenAI's `function.name`)."""
    body = fake.requests_to(path)[-1].json
    return [tool["function"]["name"] if "function" in tool else tool["name"] for tool in body.get("tools", [])]


CONNECTOR_BETA = "mcp-client-2025-04-04"


def connector_config(fake: FakeUpstream, allowed: list[str]) -> dict[str, Any]:
    """`mcp_config` with no configured client, the given `mcp.allowed_server_urls` (the connector's servers)."""
    config = mcp_config(fake)
    config["mcp"]["allowed_server_urls"] = allowed
    return config


def server_entry(url: str, token: str = TOKEN, name: str = "docs") -> BetaRequestMCPServerURLDefinitionParam:
    """One `mcp_servers[]` entry, as the anthropic SDK types it."""
    return {"type": "url", "name": name, "url": url, "authorization_token": token}
