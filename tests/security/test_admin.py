"""The admin surface and governance's defaults: the admin API on a listener of its own, the Bearer scheme in any
case, failed logins throttled, and calls without a virtual key governed or refused, never silently let through."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.api import ADMIN as ADMIN_GUARD
from gateway.app import create_app
from gateway.config import parse_settings
from gateway.http.server import listen
from gateway.testing import FakeUpstream, assert_openai_error, get_once, post_once
from tests.conftest import MakeGateway
from tests.http.async_helpers import ROOT, free_port, read_log, reap, wait_healthy
from tests.http.governance_helpers import (
    ADMIN,
    API,
    CHAT,
    GPT,
    UP_CHAT,
    VK_A,
    FakeClock,
    admin,
    answer_everything,
    budget,
    chat,
    config,
    providers,
    settled,
    used,
    vk,
)

KEYS = API + "/virtual-keys"


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
async def test_the_admin_token_is_taken_with_the_bearer_scheme_in_any_case(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, scheme: str
) -> None:
    gw = await make_gateway(config(fake_upstream.url, vk("vk-a", VK_A)))
    async with gw.http(None) as raw:
        answer = await raw.request("GET", KEYS, headers={"Authorization": f"{scheme} {ADMIN}"})
        assert answer.status == 200, answer
        answer = await raw.request("GET", KEYS, headers={"Authorization": f"Basic {ADMIN}"})
        assert answer.status == 401, answer


async def test_failed_admin_logins_are_throttled_per_address(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    gw = await make_gateway(config(fake_upstream.url, vk("vk-a", VK_A)))
    clock = FakeClock()
    gw.app[ADMIN_GUARD].set_clock(clock)
    async with gw.http(None) as raw:
        for guess in range(10):
            assert (await admin(raw, "GET", "/virtual-keys", token=f"guess-{guess}")).status == 401
        throttled = await admin(raw, "GET", "/virtual-keys", token=ADMIN)  # even the right token now waits
        assert_openai_error(throttled, 429, "rate_limit_error", "too many failed admin logins")
        assert 0 < float(throttled.headers["retry-after"]) <= 60
        clock.advance(61)
        assert (await admin(raw, "GET", "/virtual-keys", token=ADMIN)).status == 200


async def test_the_admin_api_answers_only_on_its_own_listener(fake_upstream: FakeUpstream, tmp_path: Path) -> None:
    answer_everything(fake_upstream)
    app = create_app(parse_settings(config(fake_upstream.url, vk("vk-a", VK_A))), app_dir=tmp_path)
    served = await listen(app, "127.0.0.1", 0, admin_host="127.0.0.1", admin_port=0)
    assert served.admin_url is not None and served.admin_url != served.url
    admin = {"Authorization": f"Bearer {ADMIN}"}
    chat = {"model": GPT, "messages": [{"role": "user", "content": "hi"}]}
    try:
        assert (await get_once(served.admin_url + KEYS, admin)).status == 200
        on_inference = await get_once(served.url + KEYS, admin)
        assert on_inference.status == 404 and b"route not found" in on_inference.body
        assert (await post_once(served.admin_url + CHAT, chat, {"x-bf-vk": VK_A}, key=None)).status == 404
        assert (await post_once(served.url + CHAT, chat, {"x-bf-vk": VK_A}, key=None)).status == 200
        for url in (served.url, served.admin_url):
            assert (await get_once(url + "/health")).status == 200
    finally:
        await served.close()


def spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "gateway", *args], cwd=ROOT, stdout=out, stderr=out)


async def test_gateway_serve_takes_an_admin_port(fake_upstream: FakeUpstream, tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config(fake_upstream.url, vk("vk-a", VK_A))))
    port, admin_port, log = free_port(), free_port(), tmp_path / "gateway.log"
    args = ["serve", "--config", str(path), "--port", str(port), "--app-dir", str(tmp_path / "app")]
    args += ["--admin-port", str(admin_port), "--admin-host", "127.0.0.1"]
    proc = spawn(args, log)
    try:
        await wait_healthy(proc, f"http://127.0.0.1:{port}", log)
        headers = {"Authorization": f"Bearer {ADMIN}"}
        assert (await get_once(f"http://127.0.0.1:{admin_port}{KEYS}", headers)).status == 200
        assert (await get_once(f"http://127.0.0.1:{port}{KEYS}", headers)).status == 404
    finally:
        reap([proc])
    assert f"gateway admin API on http://127.0.0.1:{admin_port}" in read_log(log)


def default_key_config(url: str, **client: Any) -> dict[str, Any]:
    shared = vk("vk-default", "sk-bf-default-key-0000000000000000", provider_configs=providers("openai"))
    shared["budgets"] = [budget(5.0)]
    settings = config(url, shared, vk("vk-a", VK_A), **client)
    settings["governance"]["default_virtual_key"] = "vk-default"
    return settings


async def test_calls_without_a_key_are_governed_as_the_default_key(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    answer_everything(fake_upstream)
    gw = await make_gateway(default_key_config(fake_upstream.url))
    async with gw.http(None) as raw:
        assert (await chat(raw, None)).status == 200  # spends the default key's budget
        assert (await chat(raw, "sk-not-a-virtual-key")).status == 200  # a client key is no virtual key
        denied = await chat(raw, None, model="anthropic/claude-x")  # the default key allows only openai
        assert_openai_error(denied, 403, "permission_error", "vk-default")
        await settled(gw)
        assert used(gw, "budget:vk:vk-default:0") > 0
        assert (await admin(raw, "DELETE", "/virtual-keys/vk-default")).status == 204
        gone = await chat(raw, None)  # fail closed: never let through ungoverned
        assert_openai_error(gone, 401, "authentication_error", "default virtual key")
    assert len(fake_upstream.requests_to(UP_CHAT)) == 2


async def test_requiring_a_key_wins_over_the_default_key(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    gw = await make_gateway(default_key_config(fake_upstream.url, enforce_auth_on_inference=True))
    async with gw.http(None) as raw:
        assert_openai_error(await chat(raw, None), 401, "authentication_error", "virtual key is required")
    assert fake_upstream.requests == []


@pytest.mark.parametrize(
    ("enforce", "default", "expected"),
    [
        (False, None, "calls without a virtual key are not governed"),
        (True, None, None),
        (False, "vk-a", None),
        (False, "vk-missing", "names no virtual key"),
    ],
)
async def test_start_up_says_when_calls_without_a_key_go_ungoverned(
    make_gateway: MakeGateway,
    fake_upstream: FakeUpstream,
    caplog: pytest.LogCaptureFixture,
    enforce: bool,
    default: str | None,
    expected: str | None,
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.governance")
    settings = config(fake_upstream.url, vk("vk-a", VK_A), enforce_auth_on_inference=enforce)
    settings["governance"]["default_virtual_key"] = default
    await make_gateway(settings)
    said = [r.getMessage() for r in caplog.records if r.name == "gateway.governance"]
    if expected is None:
        assert said == []
    else:
        assert len(said) == 1 and expected in said[0], said
