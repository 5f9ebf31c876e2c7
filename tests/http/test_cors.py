"""CORS from `client.allowed_origins`, asserted header by header on raw HTTP (what a browser sends and reads):
preflights, answers (errors and streams too), unlisted origins, `"*"`, and no CORS at all by default."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.testing import Answer, Gateway, Http, MakeGateway, assert_anthropic_error

PAGE = "http://127.0.0.1:5173"
OTHER = "https://evil.example"
SDK_HEADERS = "x-api-key, anthropic-version, anthropic-beta, content-type, x-stainless-os, x-stainless-retry-count"
ANTHROPIC_BODY = {"model": "mock/m", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}
OPENAI_BODY = {"model": "mock/m", "messages": [{"role": "user", "content": "hi"}]}


def mock_config(*origins: str) -> dict[str, Any]:
    return {"providers": {"mock": {}}, "client": {"allowed_origins": list(origins)}}


def cors_headers(answer: Answer) -> dict[str, str]:
    return {name.lower(): value for name, value in answer.headers.items() if name.lower().startswith("access-control-")}


async def preflight(gw: Gateway, path: str, origin: str, headers: str | None = SDK_HEADERS) -> Answer:
    sent = {"Origin": origin, "Access-Control-Request-Method": "POST"}
    if headers is not None:
        sent["Access-Control-Request-Headers"] = headers
    async with Http(gw.url, bare=True) as http:
        return await http.request("OPTIONS", path, headers=sent)


@pytest.mark.parametrize("path", ["/v1/messages", "/anthropic/v1/messages", "/v1/chat/completions", "/v1/models"])
async def test_preflight_from_a_listed_origin(make_gateway: MakeGateway, path: str) -> None:
    gw = await make_gateway(mock_config("https://app.example", PAGE))
    answer = await preflight(gw, path, PAGE)
    assert answer.status == 204, answer
    assert answer.body == b""
    assert cors_headers(answer) == {
        "access-control-allow-origin": PAGE,
        "access-control-allow-methods": "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
        "access-control-allow-headers": SDK_HEADERS,
        "access-control-max-age": "86400",
    }
    assert answer.headers["vary"] == "Origin"


async def test_preflight_without_requested_headers_allows_none(make_gateway: MakeGateway) -> None:
    gw = await make_gateway(mock_config(PAGE))
    answer = await preflight(gw, "/v1/messages", PAGE, headers=None)
    assert answer.status == 204, answer
    assert "access-control-allow-headers" not in cors_headers(answer)


async def test_answers_to_a_listed_origin_name_it_and_expose_their_headers(make_gateway: MakeGateway) -> None:
    gw = await make_gateway(mock_config(PAGE))
    async with Http(gw.url) as http:
        message = await http.post("/v1/messages", ANTHROPIC_BODY, headers={"Origin": PAGE})
        stream = await http.post("/v1/chat/completions", {**OPENAI_BODY, "stream": True}, headers={"Origin": PAGE})
        error = await http.post("/v1/messages", {"model": "mock/m"}, headers={"Origin": PAGE})
        models = await http.get("/v1/models", headers={"Origin": PAGE})
    assert message.status == 200 and message.json()["type"] == "message", message
    assert stream.status == 200 and stream.events()[-1].data == "[DONE]", stream
    assert_anthropic_error(error, 400, "invalid_request_error")
    assert models.status == 200, models
    for answer in (message, stream, error, models):
        assert cors_headers(answer)["access-control-allow-origin"] == PAGE, answer
        assert answer.headers["vary"] == "Origin"
    exposed = {
        name: cors_headers(a)["access-control-expose-headers"].split(", ")
        for name, a in (("message", message), ("stream", stream), ("error", error))
    }
    assert {"request-id", "x-bf-provider", "x-bf-model", "x-bf-attempts"} <= set(exposed["message"]), exposed
    assert {"x-request-id", "x-bf-provider"} <= set(exposed["stream"]), exposed
    assert "request-id" in exposed["error"], exposed
    for names in exposed.values():
        assert not {"content-type", "content-length", "date", "server"} & set(names), names


async def test_unlisted_origin_gets_no_cors_and_is_still_served(make_gateway: MakeGateway) -> None:
    gw = await make_gateway(mock_config(PAGE))
    refused = await preflight(gw, "/v1/messages", OTHER)
    assert_anthropic_error(refused, 403, "permission_error", OTHER, "client.allowed_origins")
    assert cors_headers(refused) == {}
    async with Http(gw.url) as http:
        served = await http.post("/v1/messages", ANTHROPIC_BODY, headers={"Origin": OTHER})
        no_origin = await http.post("/v1/messages", ANTHROPIC_BODY)
    for answer in (served, no_origin):
        assert answer.status == 200 and answer.json()["type"] == "message", answer
        assert cors_headers(answer) == {}, answer


async def test_any_origin(make_gateway: MakeGateway) -> None:
    gw = await make_gateway(mock_config("*"))
    answer = await preflight(gw, "/v1/chat/completions", OTHER)
    assert answer.status == 204, answer
    assert cors_headers(answer)["access-control-allow-origin"] == "*"
    async with Http(gw.url) as http:
        served = await http.post("/v1/chat/completions", OPENAI_BODY, headers={"Origin": OTHER})
    assert served.status == 200, served
    assert cors_headers(served)["access-control-allow-origin"] == "*"
    assert "x-request-id" in cors_headers(served)["access-control-expose-headers"].split(", ")
    assert "vary" not in served.headers  # the same answer for every origin


async def test_no_origins_configured_means_no_cors(make_gateway: MakeGateway) -> None:
    gw = await make_gateway(mock_config())
    answer = await preflight(gw, "/v1/messages", PAGE)
    assert answer.status == 405, answer
    assert cors_headers(answer) == {}
    async with Http(gw.url) as http:
        served = await http.post("/v1/messages", ANTHROPIC_BODY, headers={"Origin": PAGE})
    assert served.status == 200 and cors_headers(served) == {}, served


async def test_plain_options_is_not_a_preflight(make_gateway: MakeGateway) -> None:
    gw = await make_gateway(mock_config(PAGE))
    async with Http(gw.url, bare=True) as http:
        answer = await http.request("OPTIONS", "/v1/messages", headers={"Origin": PAGE})
    assert answer.status == 405, answer
    assert cors_headers(answer) == {"access-control-allow-origin": PAGE}  # no preflight grants


async def test_subdomain_pattern(make_gateway: MakeGateway) -> None:
    gw = await make_gateway(mock_config("https://*.example.com", "http://localhost:5173"))
    allowed = ["https://app.example.com", "https://a.b.example.com", "https://App.Example.com"]
    refused = [
        "https://example.com",
        "http://app.example.com",
        "https://evilexample.com",
        "https://app.example.com.evil.net",
        "https://app.example.com:8443",
        "http://localhost:5174",
    ]
    for origin in allowed:
        answer = await preflight(gw, "/v1/messages", origin)
        assert answer.status == 204 and cors_headers(answer)["access-control-allow-origin"] == origin, answer
    for origin in refused:
        answer = await preflight(gw, "/v1/messages", origin)
        assert answer.status == 403 and cors_headers(answer) == {}, (origin, answer)
