"""`/ready` for load balancers: 200 when serving, 503 naming what is not ready (a plugin's checks, each under its
timeout), on both listeners, without a key, and never a secret in the body."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from gateway.api import NotReady, add_readiness_check, hookimpl
from gateway.app import create_app
from gateway.config import parse_settings
from gateway.http.server import listen
from gateway.testing import Http, serve_gateway

MOCK_ONLY: dict[str, Any] = {"providers": {"mock": {}}}

HANG_TIMEOUT_S = 0.3


class Checks:
    """A plugin with one readiness check of each outcome; `broken` turns the failing ones on."""

    def __init__(self) -> None:
        self.broken = False

    async def fine(self) -> None:
        return None

    async def warming(self) -> None:
        if self.broken:
            raise NotReady("the index is still loading")

    async def leaky(self) -> None:
        if self.broken:
            raise ConnectionError("cannot reach redis://:hunter2-secret@10.0.0.9:6379/0")

    async def hung(self) -> None:
        if self.broken:
            await asyncio.sleep(60)

    @hookimpl
    def gw_register_routes(self, app: web.Application) -> None:
        add_readiness_check(app, "fine", self.fine)
        add_readiness_check(app, "index", self.warming)
        add_readiness_check(app, "redis", self.leaky)
        add_readiness_check(app, "upstream", self.hung, timeout_s=HANG_TIMEOUT_S)


async def test_ready_is_200_when_every_check_passes_and_503_naming_the_failing_ones() -> None:
    checks = Checks()
    async with serve_gateway(MOCK_ONLY, plugins=[checks]) as gateway, Http(gateway.url, key=None) as http:
        ok = await http.get("/ready")
        assert ok.status == 200, ok
        assert ok.json()["status"] == "ready"
        checks.broken = True
        started = time.monotonic()
        answer = await http.get("/ready")
        elapsed = time.monotonic() - started
    assert answer.status == 503, answer
    body = answer.json()
    assert body["status"] == "not ready"
    assert body["failing"] == {
        "index": "the index is still loading",
        "redis": "failed (ConnectionError)",  # its message carried a password: only the type is shown
        "upstream": f"no answer within {HANG_TIMEOUT_S:g} s",
    }
    assert b"hunter2" not in answer.body
    assert elapsed < HANG_TIMEOUT_S + 2.0  # the checks run at once, each under its timeout


async def test_a_check_name_is_taken_once_and_draining_is_the_gateway_s() -> None:
    class Twice:
        @hookimpl
        def gw_register_routes(self, app: web.Application) -> None:
            add_readiness_check(app, "db", Checks().fine)
            for name in ("db", "draining", ""):
                try:
                    add_readiness_check(app, name, Checks().fine)
                except ValueError as exc:
                    assert "is empty or already taken" in str(exc)
                else:
                    raise AssertionError(f"a check named {name!r} was accepted")

    async with serve_gateway(MOCK_ONLY, plugins=[Twice()]) as gateway, Http(gateway.url, key=None) as http:
        assert (await http.get("/ready")).status == 200


async def test_health_and_ready_answer_on_the_admin_listener_too() -> None:
    with tempfile.TemporaryDirectory(prefix="gateway-test-") as app_dir:
        app = create_app(parse_settings(MOCK_ONLY), app_dir=Path(app_dir))
        served = await listen(app, "127.0.0.1", 0, admin_port=0)
        try:
            assert served.admin_url is not None
            for url in (served.url, served.admin_url):
                async with Http(url, key=None) as http:
                    assert (await http.get("/health")).status == 200
                    ready = await http.get("/ready")
                    assert ready.status == 200 and ready.json()["status"] == "ready", ready
        finally:
            await served.close()
