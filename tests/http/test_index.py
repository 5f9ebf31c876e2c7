"""`GET /` and `HEAD /`: the gateway's name, versions and public routes, never the admin API or a secret."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

from gateway.api import VERSION
from gateway.app import create_app
from gateway.config import parse_settings
from gateway.http.server import listen
from gateway.testing import Http, MakeGateway, upstream_config
from gateway.testing.harness import ANTHROPIC_KEY, OPENAI_KEY
from tests.http.governance_helpers import ADMIN, config

INFERENCE = {
    "POST /v1/messages",
    "POST /anthropic/v1/messages",
    "POST /v1/chat/completions",
    "POST /openai/v1/chat/completions",
    "GET /v1/models",
    "GET /health",
}


async def test_get_root_names_the_gateway_and_its_routes(make_gateway: MakeGateway) -> None:
    gw = await make_gateway(config("http://127.0.0.1:9", admin=ADMIN))
    async with Http(gw.url, bare=True) as http:
        answer = await http.get("/")
    assert answer.status == 200, answer
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    body = answer.json()
    assert set(body) == {"name", "version", "plugin_api_version", "routes"}
    assert body["name"] == "llm-gateway"
    assert body["version"] == version("llm-gateway")
    assert body["plugin_api_version"] == VERSION
    assert INFERENCE <= set(body["routes"]), body["routes"]
    assert "GET /v1/models/{model_id}" in body["routes"]
    assert not [route for route in body["routes"] if "/api/" in route or route.startswith(("HEAD", "OPTIONS"))]
    for secret in (ADMIN, ANTHROPIC_KEY, OPENAI_KEY):
        assert secret.encode() not in answer.body


async def test_head_root_has_the_get_headers_and_no_body(make_gateway: MakeGateway) -> None:
    gw = await make_gateway(upstream_config("http://127.0.0.1:9"))
    async with Http(gw.url, bare=True) as http:
        got = await http.get("/")
        head = await http.request("HEAD", "/")
    assert head.status == 200, head
    assert head.body == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.headers["content-length"] == str(len(got.body))


async def test_root_answers_on_the_main_listener_only(tmp_path: Path) -> None:
    """With a separate admin listener, `/` is a client route: the admin port does not answer it."""
    app = create_app(parse_settings(config("http://127.0.0.1:9")), app_dir=tmp_path)
    served = await listen(app, "127.0.0.1", 0, admin_port=0)
    try:
        assert served.admin_url is not None
        async with Http(served.url, bare=True) as main, Http(served.admin_url, bare=True) as admin:
            assert (await main.get("/")).status == 200
            assert (await admin.get("/")).status == 404
    finally:
        await served.close()
