"""Live model lists: for keys that allow "*", the upstream's own list (Anthropic, OpenAI, Gemini, the presets, a
custom provider), merged after the models keys name, cached with a TTL, refreshed in the background, and the last
good list served while the upstream is down. The fakes serve each API's real list shape and paging."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import openai
import pytest

from gateway.providers.listing import FIRST_WAIT_S
from gateway.testing import ANTHROPIC_KEY, CLIENT_KEY, OPENAI_KEY, FakeUpstream, MakeGateway, Recorded, Reply
from tests.conftest import Gateway
from tests.fakes.gemini import GEMINI_KEY

Check = Callable[[Recorded], Reply | None]
SONNET = {"type": "model", "id": "claude-sonnet-4-5-20250929", "display_name": "Claude Sonnet 4.5",
          "created_at": "2025-09-29T00:00:00Z"}  # fmt: skip


def claude(n: int) -> dict[str, Any]:
    """A model the catalog does not know: what the listing says of it comes from the upstream."""
    return {"type": "model", "id": f"claude-new-{n}", "display_name": f"Claude New {n}",
            "created_at": f"2026-0{n}-01T00:00:00Z"}  # fmt: skip


def gpt(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 1721172741, "owned_by": "system"}


def anthropic_lists(models: list[dict[str, Any]], page_cap: int = 2) -> Check:
    """Anthropic's GET /v1/models: `limit` (capped lower than the API's 1000, so that paging happens), `after_id`,
    `has_more`, `first_id`, `last_id`; a wrong x-api-key is a 401. `models` may be changed while it serves."""

    def check(sent: Recorded) -> Reply | None:
        if sent.method != "GET" or sent.path != "/v1/models":
            return None
        if sent.headers.get("x-api-key") != ANTHROPIC_KEY or not sent.headers.get("anthropic-version"):
            return Reply.error(401, "authentication_error", "invalid x-api-key", dialect="anthropic")
        ids = [m["id"] for m in models]
        start = ids.index(sent.query["after_id"]) + 1 if "after_id" in sent.query else 0
        page = models[start : start + min(int(sent.query.get("limit", "20")), page_cap)]
        first, last = (page[0]["id"], page[-1]["id"]) if page else (None, None)
        more = start + len(page) < len(models)
        return Reply.json({"data": page, "has_more": more, "first_id": first, "last_id": last})

    return check


def openai_lists(models: list[dict[str, Any]], key: str = OPENAI_KEY, *, delay: float = 0.0) -> Check:
    """OpenAI's GET /v1/models: the whole list at once; a wrong bearer token is a 401."""

    def check(sent: Recorded) -> Reply | None:
        if sent.method != "GET" or sent.path != "/v1/models":
            return None
        if sent.headers.get("authorization") != f"Bearer {key}":
            return Reply.error(401, "invalid_request_error", "Incorrect API key provided", dialect="openai")
        return Reply.json({"object": "list", "data": list(models)}, delay=delay)

    return check


@pytest.fixture
def anthropic_models() -> list[dict[str, Any]]:
    return [SONNET, *(claude(n) for n in range(1, 5))]


async def test_anthropic_star_key_lists_every_upstream_page(
    make_gateway: MakeGateway, anthropic_models: list[dict[str, Any]]
) -> None:
    async with FakeUpstream(check=anthropic_lists(anthropic_models)) as fake:
        keys = [{"name": "all", "value": ANTHROPIC_KEY}, {"name": "named", "value": "other", "models": ["claude-x"]}]
        gw = await make_gateway({"providers": {"anthropic": {"keys": keys, "network_config": {"base_url": fake.url}}}})
        async with gw.anthropic() as client:
            listed = [m async for m in client.models.list(limit=2)]  # the SDK pages through the gateway too
            new = await client.models.retrieve("claude-new-3")
        queries = [r.query for r in fake.requests_to("/v1/models")]
    assert [m.id for m in listed] == ["claude-x", *(m["id"] for m in anthropic_models)]
    assert queries == [
        {"limit": "1000"},
        {"limit": "1000", "after_id": "claude-new-1"},
        {"limit": "1000", "after_id": "claude-new-3"},
    ]  # three upstream pages, fetched once: the SDK's three pages through the gateway came from the cache
    by_id = {m.id: m for m in listed}
    assert by_id["claude-sonnet-4-5-20250929"].display_name == "Claude Sonnet 4.5"  # the catalog's
    assert by_id["claude-new-2"].display_name == "Claude New 2"  # the upstream's, the catalog has none
    assert by_id["claude-new-2"].created_at == datetime(2026, 2, 1, tzinfo=UTC)
    assert new.display_name == "Claude New 3" and new.created_at == datetime(2026, 3, 1, tzinfo=UTC)


async def test_openai_star_key_lists_the_upstream_less_blacklisted(make_gateway: MakeGateway) -> None:
    models = [gpt("gpt-4o-mini"), gpt("gpt-in-house"), gpt("o3"), gpt("text-embedding-3-small")]
    async with FakeUpstream(check=openai_lists(models)) as fake:
        key = {"name": "o", "value": OPENAI_KEY, "models": ["*"], "blacklisted_models": ["o3"]}
        named = {"name": "n", "value": "sk-other", "models": ["gpt-named"]}
        config = {"providers": {"openai": {"keys": [key, named], "network_config": {"base_url": fake.url}}}}
        gw = await make_gateway(config)
        async with gw.openai() as client:
            listed = {m.id: m async for m in client.models.list()}
        async with openai.AsyncOpenAI(base_url=gw.url + "/openai/v1", api_key=CLIENT_KEY, max_retries=0) as client:
            bare = [m.id async for m in client.models.list()]
        assert len(fake.requests_to("/v1/models")) == 1  # the second listing came from the cache
    assert list(listed) == [
        "openai/gpt-named",
        "openai/gpt-4o-mini",
        "openai/gpt-in-house",
        "openai/text-embedding-3-small",
    ]
    assert listed["openai/gpt-4o-mini"].model_extra == {"context_window": 128000, "max_output_tokens": 16384}
    # The upstream's date (the day of its `created`) for a model the catalog lacks.
    assert listed["openai/gpt-in-house"].created == int(datetime(2024, 7, 16, tzinfo=UTC).timestamp())
    assert bare == ["gpt-named", "gpt-4o-mini", "gpt-in-house", "text-embedding-3-small"]


def gemini_lists(pages: list[list[dict[str, Any]]]) -> Check:
    """Gemini's GET /v1beta/models: `pageSize`, `pageToken`, `nextPageToken`; the key in x-goog-api-key."""

    def check(sent: Recorded) -> Reply | None:
        if sent.method != "GET" or sent.path != "/v1beta/models":
            return None
        if sent.headers.get("x-goog-api-key") != GEMINI_KEY:
            return Reply.json(
                {"error": {"code": 400, "message": "API key not valid", "status": "INVALID_ARGUMENT"}}, 400
            )
        index = int(sent.query.get("pageToken", "0"))
        body: dict[str, Any] = {"models": pages[index]}
        if index + 1 < len(pages):
            body["nextPageToken"] = str(index + 1)
        return Reply.json(body)

    return check


def gemini_model(name: str, *methods: str) -> dict[str, Any]:
    return {"name": f"models/{name}", "version": "001", "displayName": name.title(), "inputTokenLimit": 1048576,
            "outputTokenLimit": 65536, "supportedGenerationMethods": list(methods)}  # fmt: skip


async def test_gemini_lists_every_page_of_chat_models(make_gateway: MakeGateway) -> None:
    pages = [
        [
            gemini_model("gemini-2.5-flash", "generateContent", "countTokens"),
            gemini_model("embedding-001", "embedContent"),
        ],
        [gemini_model("gemini-new-x", "generateContent")],
    ]
    async with FakeUpstream(check=gemini_lists(pages)) as fake:
        provider = {"keys": [{"name": "g", "value": GEMINI_KEY}], "network_config": {"base_url": fake.url}}
        gw = await make_gateway({"providers": {"gemini": provider}})
        async with gw.openai() as client:
            listed = {m.id: m async for m in client.models.list()}
        queries = [r.query for r in fake.requests_to("/v1beta/models")]
    assert list(listed) == ["gemini/gemini-2.5-flash", "gemini/gemini-new-x"]  # no embedding model
    assert queries == [{"pageSize": "1000"}, {"pageSize": "1000", "pageToken": "1"}]


async def test_presets_and_custom_providers_list_their_servers(make_gateway: MakeGateway) -> None:
    async with (
        FakeUpstream(check=openai_lists([gpt("llama-3.3-70b")], key="gsk-test")) as groq,
        FakeUpstream() as ollama,
    ):
        ollama.default("/v1/models", Reply.json([{"id": "qwen3:8b", "object": "model", "created": 1}]))  # a bare array
        providers = {
            "groq": {"keys": [{"value": "gsk-test"}], "network_config": {"base_url": groq.url}},
            "ollama": {"network_config": {"base_url": ollama.url}},  # no keys: listed without a token
            "lab": {"custom_provider_config": {"base_provider_type": "groq"}, "keys": [{"value": "gsk-test"}],
                    "network_config": {"base_url": groq.url}},
        }  # fmt: skip
        gw = await make_gateway({"providers": providers})
        async with gw.openai() as client:
            ids = [m.id async for m in client.models.list()]
        [unauthenticated] = ollama.requests_to("/v1/models")
    assert ids == ["groq/llama-3.3-70b", "ollama/qwen3:8b", "lab/llama-3.3-70b"]
    assert "authorization" not in unauthenticated.headers


async def test_a_refused_key_gives_way_to_the_next(make_gateway: MakeGateway) -> None:
    async with FakeUpstream(check=openai_lists([gpt("gpt-4o")])) as fake:
        keys = [{"name": "revoked", "value": "sk-revoked"}, {"name": "good", "value": OPENAI_KEY}]
        gw = await make_gateway({"providers": {"openai": {"keys": keys, "network_config": {"base_url": fake.url}}}})
        async with gw.openai() as client:
            ids = [m.id async for m in client.models.list()]
    assert ids == ["openai/gpt-4o"]


async def test_azure_bedrock_and_named_keys_ask_no_upstream(
    fake_upstream: FakeUpstream, make_gateway: MakeGateway
) -> None:
    azure = {"endpoint": fake_upstream.url, "deployments": {"gpt-4o": "prod-4o"}}
    bedrock = {"region": "us-east-1", "access_key": "AKIDEXAMPLE", "secret_key": "secret"}
    providers = {
        "azure": {"keys": [{"value": "az-key", "azure_key_config": azure}]},
        "bedrock": {"keys": [{"value": "", "models": ["*"], "bedrock_key_config": bedrock}],
                    "network_config": {"base_url": fake_upstream.url}},
        "anthropic": {"keys": [{"value": ANTHROPIC_KEY, "models": ["claude-x"]}],
                      "network_config": {"base_url": fake_upstream.url}},
    }  # fmt: skip
    gw = await make_gateway({"providers": providers})
    async with gw.openai() as client:
        ids = [m.id async for m in client.models.list()]
    assert ids == ["azure/gpt-4o", "anthropic/claude-x"]
    assert fake_upstream.requests == []


async def test_ttl_zero_lists_only_named_models(fake_upstream: FakeUpstream, make_gateway: MakeGateway) -> None:
    provider = {"keys": [{"value": OPENAI_KEY}], "network_config": {"base_url": fake_upstream.url}}
    config = {"providers": {"openai": provider}, "client": {"model_list_ttl_in_seconds": 0}}
    gw = await make_gateway(config)
    async with gw.openai() as client:
        assert [m.id async for m in client.models.list()] == []
    assert fake_upstream.requests == []


# --- cache: TTL, background refresh, upstream down --------------------------------------------------------------

TTL = 0.2


def always(reply: Reply) -> Check:
    return lambda sent: reply


async def openai_gateway(make_gateway: MakeGateway, url: str) -> Gateway:
    provider = {"keys": [{"value": OPENAI_KEY}], "network_config": {"base_url": url, "max_retries": 0}}
    return await make_gateway({"providers": {"openai": provider}, "client": {"model_list_ttl_in_seconds": TTL}})


async def listed_ids(gw: Gateway) -> list[str]:
    async with gw.http() as http:
        answer = await http.get("/v1/models")
    assert answer.status == 200, answer
    return [m["id"] for m in answer.json()["data"]]


async def eventually_listed(gw: Gateway, expected: list[str]) -> None:
    """Listings until `expected` comes back; bounded (50 tries, 5 s)."""
    ids: list[str] = []
    for _ in range(50):
        ids = await listed_ids(gw)
        if ids == expected:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"still listed {ids}, not {expected}")


async def test_a_stale_list_is_served_while_it_refreshes(make_gateway: MakeGateway) -> None:
    models = [gpt("gpt-old")]
    checks = [openai_lists(models)]
    async with FakeUpstream(check=lambda sent: checks[0](sent)) as fake:
        gw = await openai_gateway(make_gateway, fake.url)
        assert await listed_ids(gw) == ["openai/gpt-old"]
        assert await listed_ids(gw) == ["openai/gpt-old"]
        assert len(fake.requests_to("/v1/models")) == 1  # fresh for TTL seconds: from the cache
        models[:] = [gpt("gpt-new")]
        checks[0] = openai_lists(models, delay=0.5)  # the refresh takes a while: the stale list is served meanwhile
        await asyncio.sleep(TTL * 2)
        assert await listed_ids(gw) == ["openai/gpt-old"]
        await eventually_listed(gw, ["openai/gpt-new"])
        assert len(fake.requests_to("/v1/models")) == 2  # one refresh, however many listings waited on it


async def test_the_last_good_list_outlives_an_upstream_outage(make_gateway: MakeGateway) -> None:
    checks = [openai_lists([gpt("gpt-4o")])]
    async with FakeUpstream(check=lambda sent: checks[0](sent)) as fake:
        gw = await openai_gateway(make_gateway, fake.url)
        assert await listed_ids(gw) == ["openai/gpt-4o"]
        outages = (
            Reply.error(503, "server_error", "down", dialect="openai"),
            Reply.drop(),  # no answer at all
            Reply.raw(b"<html>maintenance</html>", content_type="text/html"),  # a 200 that is no model list
        )
        for outage in outages:
            checks[0] = always(outage)
            before = len(fake.requests)
            await asyncio.sleep(TTL * 2)
            assert await listed_ids(gw) == ["openai/gpt-4o"]
            await fake.wait_requests(before + 1)  # the refresh was tried and failed
            assert await listed_ids(gw) == ["openai/gpt-4o"]


async def test_an_upstream_down_at_first_lists_named_models_then_recovers(
    make_gateway: MakeGateway, caplog: pytest.LogCaptureFixture
) -> None:
    echoed = f"upstream broke while reading key {OPENAI_KEY}"  # an error that quotes the key must not leak it
    checks = [always(Reply.error(500, "server_error", echoed, dialect="openai"))]
    async with FakeUpstream(check=lambda sent: checks[0](sent)) as fake:
        gw = await openai_gateway(make_gateway, fake.url)
        with caplog.at_level(logging.WARNING, logger="gateway.models"):
            assert await listed_ids(gw) == []  # the client gets a 200 with what is known, not the upstream's 500
        [warning] = [r.getMessage() for r in caplog.records if r.name == "gateway.models"]
        assert "model list of 'openai' failed" in warning and "upstream broke" in warning
        assert OPENAI_KEY not in caplog.text
        checks[0] = openai_lists([gpt("gpt-4o")])
        await eventually_listed(gw, ["openai/gpt-4o"])


async def test_a_hanging_upstream_delays_a_first_listing_by_at_most_the_first_wait(make_gateway: MakeGateway) -> None:
    checks = [always(Reply.hang())]
    async with FakeUpstream(check=lambda sent: checks[0](sent)) as fake:
        gw = await openai_gateway(make_gateway, fake.url)  # the upstream's own timeout is 300 s: the listing won't wait
        started = time.monotonic()
        assert await listed_ids(gw) == []
        assert FIRST_WAIT_S <= time.monotonic() - started < FIRST_WAIT_S + 2
        started = time.monotonic()
        assert await listed_ids(gw) == []  # the fetch still hangs: no second one, and no wait this time
        assert time.monotonic() - started < FIRST_WAIT_S / 2
        assert len(fake.requests_to("/v1/models")) == 1
