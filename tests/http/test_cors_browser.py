"""CORS as a browser enforces it: headless Chromium opens a page served on another 127.0.0.1 port, whose script
calls the gateway with `fetch` and the SDKs' headers (a preflight first), and writes what it could read into the
page; `--dump-dom` hands the page back. Needs `chromium-headless-shell` (Debian's package; `.ci/run` installs it)."""

from __future__ import annotations

import asyncio
import html
import json
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from gateway.testing import MakeGateway

BROWSER_TIMEOUT_S = 60.0
PAGE = """<!doctype html><html><body><pre id="out">pending</pre><script>
const gateway = new URL(location).searchParams.get("gateway");
const headers = {"content-type": "application/json", "x-api-key": "sk-page", "anthropic-version": "2023-06-01",
                 "x-stainless-os": "Linux"};
async function call(path, body) {
  try {
    const r = await fetch(gateway + path, {method: "POST", headers, body: JSON.stringify(body)});
    return {status: r.status, id: r.headers.get("request-id") || r.headers.get("x-request-id"),
            provider: r.headers.get("x-bf-provider"), body: await r.text()};
  } catch (e) {
    return {blocked: String(e)};
  }
}
(async () => {
  const hi = [{role: "user", content: "hi"}];
  const out = {
    message: await call("/v1/messages", {model: "mock/m", max_tokens: 20, messages: hi}),
    stream: await call("/v1/chat/completions", {model: "mock/m", stream: true, messages: hi}),
    error: await call("/v1/messages", {model: "mock/m"}),
  };
  document.getElementById("out").textContent = JSON.stringify(out);
})();
</script></body></html>"""
OUT = re.compile(r'<pre id="out">(.*?)</pre>', re.DOTALL)

Browse = Callable[[str], Awaitable[dict[str, Any]]]


def chromium() -> str:
    found = shutil.which("chromium-headless-shell") or shutil.which("chromium")
    assert found, "headless Chromium is missing: apt-get install chromium-headless-shell (as .ci/run does)"
    return found


async def page(request: web.Request) -> web.Response:
    return web.Response(text=PAGE, content_type="text/html")


@pytest.fixture
async def page_origin() -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """Start a page server on a free 127.0.0.1 port; returns its origin (each call: another server, another
    origin). Stopped at the end of the test."""
    runners: list[web.AppRunner] = []

    async def start() -> str:
        app = web.Application()
        app.router.add_get("/", page)
        runner = web.AppRunner(app)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
def browse(tmp_path: Path) -> Browse:
    """Open `url` in headless Chromium, let its script run, and return what it wrote into the page."""

    async def run(url: str) -> dict[str, Any]:
        proc = await asyncio.create_subprocess_exec(
            chromium(),
            "--no-sandbox",  # CI runs as root
            "--disable-gpu",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=20000",
            "--dump-dom",
            url,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            dom, _ = await asyncio.wait_for(proc.communicate(), BROWSER_TIMEOUT_S)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        found = OUT.search(dom.decode())
        assert found is not None, dom[:2000]
        result: dict[str, Any] = json.loads(html.unescape(found.group(1)))
        return result

    return run


async def test_a_listed_origin_reads_answers_errors_and_streams(
    make_gateway: MakeGateway, page_origin: Callable[[], Awaitable[str]], browse: Browse
) -> None:
    origin = await page_origin()
    gw = await make_gateway({"providers": {"mock": {}}, "client": {"allowed_origins": [origin]}})
    out = await browse(f"{origin}/?gateway={gw.url}")
    message, stream, error = out["message"], out["stream"], out["error"]
    assert message["status"] == 200, out
    assert json.loads(message["body"])["content"][0]["text"] == "Mock reply to: hi"
    assert message["id"].startswith("req_") and message["provider"] == "mock"  # exposed headers
    assert stream["status"] == 200 and stream["body"].rstrip().endswith("data: [DONE]"), out
    assert stream["id"].startswith("req_") and stream["provider"] == "mock"
    assert error["status"] == 400, out
    assert json.loads(error["body"])["error"]["type"] == "invalid_request_error"
    assert error["id"].startswith("req_")


async def test_an_unlisted_origin_is_blocked_by_the_browser(
    make_gateway: MakeGateway, page_origin: Callable[[], Awaitable[str]], browse: Browse
) -> None:
    listed, other = await page_origin(), await page_origin()
    gw = await make_gateway({"providers": {"mock": {}}, "client": {"allowed_origins": [listed]}})
    out = await browse(f"{other}/?gateway={gw.url}")
    assert out == {name: {"blocked": "TypeError: Failed to fetch"} for name in ("message", "stream", "error")}


async def test_without_allowed_origins_every_page_is_blocked(
    make_gateway: MakeGateway, page_origin: Callable[[], Awaitable[str]], browse: Browse
) -> None:
    origin = await page_origin()
    gw = await make_gateway({"providers": {"mock": {}}})
    out = await browse(f"{origin}/?gateway={gw.url}")
    assert {result.get("blocked") for result in out.values()} == {"TypeError: Failed to fetch"}, out
