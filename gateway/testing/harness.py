"""A gateway running in the test's own event loop, on a free 127.0.0.1 port, with the listeners `gateway serve`
uses, and the official SDKs bound to it."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..app import create_app
from ..config import parse_settings
from ..http.server import listen
from .client import CLIENT_KEY, Http

if TYPE_CHECKING:
    import anthropic
    import openai

ANTHROPIC_KEY = "sk-ant-upstream-secret"  # what `upstream_config` gives its anthropic provider
OPENAI_KEY = "sk-openai-upstream-secret"  # ... and its openai provider


@dataclass
class Gateway:
    """A running gateway: its base URL, its app (for a look at plugin state), and clients bound to it.

    The SDK clients are the async ones: the gateway runs in the test's event loop, so a sync client would block it.
    """

    url: str
    app: web.Application

    def anthropic(self, **kwargs: Any) -> anthropic.AsyncAnthropic:
        """The official Anthropic SDK at `/anthropic`, no retries, strict response validation."""
        import anthropic

        options: dict[str, Any] = {"api_key": CLIENT_KEY, "max_retries": 0, "_strict_response_validation": True}
        return anthropic.AsyncAnthropic(base_url=self.url + "/anthropic", **(options | kwargs))

    def openai(self, **kwargs: Any) -> openai.AsyncOpenAI:
        """The official OpenAI SDK at `/v1`, no retries."""
        import openai

        options: dict[str, Any] = {"api_key": CLIENT_KEY, "max_retries": 0}
        return openai.AsyncOpenAI(base_url=self.url + "/v1", **(options | kwargs))

    def http(self, key: str | None = CLIENT_KEY, *, bearer: bool = False) -> Http:
        """Raw HTTP to this gateway (`async with gw.http() as http: await http.post(path, body)`)."""
        return Http(self.url, key, bearer=bearer)


@contextlib.asynccontextmanager
async def serve_gateway(
    config: dict[str, Any], plugins: Iterable[object] = (), app_dir: Path | None = None
) -> AsyncIterator[Gateway]:
    """Start a gateway with `config` (the config file's JSON, as a dict) and extra plugin objects or modules;
    stopped (gracefully) on exit. Without `app_dir` its data lives in a temporary directory; a given one must not
    be in use by another running gateway (it is locked: see `gateway.startup`)."""
    with contextlib.ExitStack() as stack:
        if app_dir is None:
            app_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gateway-test-")))
        app = create_app(parse_settings(config), app_dir=app_dir, extra_plugins=plugins)
        served = await listen(app, "127.0.0.1", 0)
        try:
            yield Gateway(url=served.url, app=app)
        finally:
            await served.close()


def upstream_config(url: str, **client: Any) -> dict[str, Any]:
    """Anthropic and OpenAI providers both served by one fake upstream at `url`, plus the mock provider; `client`
    goes into the config's `client` section."""
    return {
        "providers": {
            "anthropic": {"keys": [{"name": "a", "value": ANTHROPIC_KEY}], "network_config": {"base_url": url}},
            "openai": {"keys": [{"name": "o", "value": OPENAI_KEY}], "network_config": {"base_url": url}},
            "mock": {},
        },
        "client": client,
    }
