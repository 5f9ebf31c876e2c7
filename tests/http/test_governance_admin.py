"""Governance admin API and persistence: the admin token, keys created (value shown once, stored as a hash),
updated and deleted with immediate effect, teams and customers, per-key usage, and what survives a restart
(API-created keys, spent budgets) or is reconciled from the config file."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.api import ADMIN as ADMIN_GUARD
from gateway.config import ConfigError
from gateway.loading import check_settings
from gateway.testing import (
    FakeUpstream,
    Http,
    Reply,
    anthropic_message,
    anthropic_usage,
    assert_anthropic_error,
    assert_openai_error,
    serve_gateway,
)
from tests.conftest import MakeGateway
from tests.http.governance_helpers import (
    ADMIN,
    API,
    UP_MESSAGES,
    VK_A,
    VK_B,
    FakeClock,
    admin,
    answer_everything,
    budget,
    chat,
    config,
    messages,
    providers,
    settled,
    used,
    vk,
)
from tests.http.governance_stores import Store
from tests.pg_server import create_database, drop_database

EXPENSIVE = anthropic_usage(10, 10_000)  # $0.02001 at the test prices
NEW_KEY: dict[str, Any] = {"name": "ci", "provider_configs": providers("anthropic")}


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """The tests that take it run on each config store. Ask for it before make_gateway: its database must
    outlive the gateways (fixtures end in the reverse order)."""
    if request.param == "sqlite":
        yield Store()
        return
    server = request.getfixturevalue("postgres_server")
    name = create_database(server)
    try:
        yield Store(server.dsn(name))
    finally:
        drop_database(server, name)


async def create_key(raw: Http, body: dict[str, Any] | None = None) -> dict[str, Any]:
    answer = await admin(raw, "POST", "/virtual-keys", body or NEW_KEY)
    assert answer.status == 201, answer
    created: dict[str, Any] = answer.json()
    return created


ROUTES = [
    ("GET", "/virtual-keys"),
    ("POST", "/virtual-keys"),
    ("GET", "/virtual-keys/vk-a"),
    ("PUT", "/virtual-keys/vk-a"),
    ("DELETE", "/virtual-keys/vk-a"),
    ("GET", "/virtual-keys/vk-a/usage"),
    ("GET", "/teams"),
    ("POST", "/teams"),
    ("PUT", "/teams/t-1"),
    ("DELETE", "/teams/t-1"),
    ("GET", "/customers"),
    ("POST", "/customers"),
    ("GET", "/customers/c-1"),
    ("DELETE", "/customers/c-1"),
]


async def test_admin_routes_need_the_admin_token(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    teams, customers = [{"id": "t-1"}], [{"id": "c-1"}]
    gw = await make_gateway(config(fake_upstream.url, vk("vk-a", VK_A), teams=teams, customers=customers))
    closed = await make_gateway(config(fake_upstream.url, vk("vk-a", VK_A), admin=None))
    clock = FakeClock()
    for app in (gw.app, closed.app):
        app[ADMIN_GUARD].set_clock(clock)  # a minute passes between routes: failed logins are throttled
    async with gw.http(None) as raw, closed.http(None) as raw_closed:
        for method, path in ROUTES:
            clock.advance(60)
            for token in (None, "wrong-token", ADMIN + "x", VK_A):
                answer = await admin(raw, method, path, {"name": "x"}, token=token)
                assert_openai_error(answer, 401, "authentication_error")
            for token in (ADMIN, "", None):  # no admin token configured: the API is closed
                assert (await admin(raw_closed, method, path, {"name": "x"}, token=token)).status == 401
        answer = await raw.request("GET", API + "/virtual-keys", headers={"Authorization": ADMIN})  # no scheme
        assert answer.status == 401
        assert (await admin(raw, "GET", "/virtual-keys/vk-a")).status == 200  # the keys are all still there
        assert (await admin(raw, "GET", "/teams/t-1")).status == 200
        assert (await admin(raw, "GET", "/customers/c-1")).status == 200


async def test_created_key_is_shown_once_works_at_once_and_is_stored_as_a_hash(
    store: Store, make_gateway: MakeGateway, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    answer_everything(fake_upstream)
    app_dir = tmp_path / "app"
    gw = await make_gateway(store.config(config(fake_upstream.url, vk("vk-a", VK_A))), app_dir=app_dir)
    async with gw.http(None) as raw:
        created = await create_key(raw)
        value = created["value"]
        assert value.startswith("sk-bf-") and len(value) >= 32
        assert created["id"] and created["name"] == "ci"
        assert (await messages(raw, value)).status == 200  # works at once
        second = await create_key(raw)
        assert second["value"] != value and second["id"] != created["id"]
        shown = [
            await admin(raw, "GET", f"/virtual-keys/{created['id']}"),
            await admin(raw, "GET", "/virtual-keys"),
            await admin(raw, "GET", "/virtual-keys/vk-a"),
            await admin(raw, "PUT", f"/virtual-keys/{created['id']}", {"description": "nightly"}),
        ]
    for answer in shown:
        assert answer.status == 200, answer
        assert value.encode() not in answer.body and VK_A.encode() not in answer.body, answer
    listed = shown[1].json()["data"]
    assert {e["id"] for e in listed} == {"vk-a", created["id"], second["id"]}
    assert all(e.get("value") in (None, "") for e in listed)
    stored = await store.contents(app_dir)
    for secret in (value, second["value"], VK_A):
        assert secret.encode() not in stored
        assert hashlib.sha256(secret.encode()).hexdigest().encode() in stored


async def test_updated_key_takes_effect_at_once(
    store: Store, make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    answer_everything(fake_upstream)
    gw = await make_gateway(store.config(config(fake_upstream.url)))
    async with gw.http(None) as raw:
        key = await create_key(raw)
        path = f"/virtual-keys/{key['id']}"
        off = await admin(raw, "PUT", path, {"is_active": False})
        assert off.status == 200 and off.json()["is_active"] is False and "value" not in off.json(), off
        assert_anthropic_error(await messages(raw, key["value"]), 403, "permission_error", "inactive")
        assert (await admin(raw, "PUT", path, {"is_active": True})).status == 200
        assert (await messages(raw, key["value"])).status == 200  # the same value still identifies it
        assert (await admin(raw, "PUT", path, {"provider_configs": providers("openai")})).status == 200
        assert_anthropic_error(await messages(raw, key["value"]), 403, "permission_error", "provider 'anthropic'")
        assert (await chat(raw, key["value"])).status == 200
        got = (await admin(raw, "GET", path)).json()
        assert got["name"] == "ci" and [c["provider"] for c in got["provider_configs"]] == ["openai"]
        assert (await admin(raw, "PUT", "/virtual-keys/nope", {"is_active": False})).status == 404
        assert (await admin(raw, "PUT", path, {"budgets": [{"max_limit": -1}]})).status == 400


async def test_deleted_key_stops_working_at_once(
    store: Store, make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    answer_everything(fake_upstream)
    gw = await make_gateway(store.config(config(fake_upstream.url, vk("vk-a", VK_A))))
    async with gw.http(None) as raw:
        key = await create_key(raw)
        assert (await messages(raw, key["value"])).status == 200
        deleted = await admin(raw, "DELETE", f"/virtual-keys/{key['id']}")
        assert deleted.status == 204 and deleted.body == b"", deleted
        assert_anthropic_error(await messages(raw, key["value"]), 401, "authentication_error")
        assert_openai_error(await chat(raw, key["value"]), 401, "authentication_error")
        assert (await admin(raw, "GET", f"/virtual-keys/{key['id']}")).status == 404
        assert (await admin(raw, "DELETE", f"/virtual-keys/{key['id']}")).status == 404
        assert (await admin(raw, "DELETE", "/virtual-keys/vk-a")).status == 204  # a config-file key, too
        assert_anthropic_error(await messages(raw, VK_A), 401, "authentication_error")
        assert (await admin(raw, "GET", "/virtual-keys")).json()["data"] == []


async def test_teams_and_customers_crud_and_their_budgets(
    store: Store, make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("ok", usage=EXPENSIVE)))
    gw = await make_gateway(store.config(config(fake_upstream.url)))
    async with gw.http(None) as raw:
        customer = await admin(raw, "POST", "/customers", {"id": "c-1", "name": "Acme"})
        assert customer.status == 201 and customer.json()["name"] == "Acme", customer
        team = await admin(raw, "POST", "/teams", {"name": "Data", "customer_id": "c-1", "budgets": [budget(0.01)]})
        assert team.status == 201, team
        team_id = team.json()["id"]
        assert (await admin(raw, "POST", "/customers", {"id": "c-1"})).status == 400  # the id is taken
        assert (await admin(raw, "POST", "/teams", {"budgets": "lots"})).status == 400
        assert [c["id"] for c in (await admin(raw, "GET", "/customers")).json()["data"]] == ["c-1"]
        assert (await admin(raw, "GET", f"/teams/{team_id}")).json()["customer_id"] == "c-1"

        key = await create_key(raw, {**NEW_KEY, "team_id": team_id})
        assert (await messages(raw, key["value"])).status == 200
        await settled(gw)
        assert_anthropic_error(await messages(raw, key["value"]), 402, "billing_error", "team 'Data'")
        raised = await admin(raw, "PUT", f"/teams/{team_id}", {"budgets": [budget(1.0)]})
        assert raised.status == 200 and raised.json()["name"] == "Data", raised
        assert (await messages(raw, key["value"])).status == 200  # the new limit applies at once
        await settled(gw)
        assert (await admin(raw, "PUT", "/customers/c-1", {"budgets": [budget(0.001)]})).status == 200
        assert (await messages(raw, key["value"])).status == 200  # the customer's budget counts from now on
        await settled(gw)
        assert_anthropic_error(await messages(raw, key["value"]), 402, "billing_error", "customer 'Acme'")

        assert (await admin(raw, "DELETE", "/customers/c-1")).status == 204
        assert (await admin(raw, "GET", "/customers/c-1")).status == 404
        assert (await messages(raw, key["value"])).status == 200  # its budget went with it
        assert (await admin(raw, "DELETE", f"/teams/{team_id}")).status == 204
        assert (await admin(raw, "GET", "/teams")).json()["data"] == []
        assert (await admin(raw, "DELETE", f"/teams/{team_id}")).status == 404


async def test_usage_endpoint_shows_that_keys_meters_only(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("ok", usage=anthropic_usage(100, 200))))
    limit = {"request_max_limit": 50, "request_reset_duration": "1h"}
    one = vk("vk-1", VK_A, budgets=[budget(1.0, "1d")], rate_limit=limit)
    ten = vk("vk-10", VK_B, budgets=[budget(2.0)], rate_limit=limit)  # an id that vk-1's is a prefix of
    gw = await make_gateway(config(fake_upstream.url, one, ten))
    async with gw.http(None) as raw:
        assert (await messages(raw, VK_A)).status == 200
        assert (await messages(raw, VK_B)).status == 200
        await settled(gw)
        answer = await admin(raw, "GET", "/virtual-keys/vk-1/usage")
        assert (await admin(raw, "GET", "/virtual-keys/nope/usage")).status == 404
    assert answer.status == 200, answer
    body = answer.json()
    assert body["virtual_key"] == "vk-1"
    rows = {row["meter"]: row for row in body["meters"]}
    assert set(rows) == {"budget:vk:vk-1:0", "requests:vk:vk-1"}, rows
    assert rows["budget:vk:vk-1:0"]["used"] == pytest.approx(100 * 1e-6 + 200 * 2e-6)
    assert rows["budget:vk:vk-1:0"]["limit"] == 1.0
    assert rows["budget:vk:vk-1:0"]["window_end"] - rows["budget:vk:vk-1:0"]["window_start"] == 86_400
    assert rows["requests:vk:vk-1"]["used"] == 1 and rows["requests:vk:vk-1"]["limit"] == 50


# --- persistence --------------------------------------------------------------------------------------------


async def test_restart_keeps_api_keys_and_spent_budgets(
    store: Store, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("ok", usage=EXPENSIVE)))
    cfg = store.config(config(fake_upstream.url, vk("vk-a", VK_A, budgets=[budget(1.0)])))
    app_dir = tmp_path / "app"
    async with serve_gateway(cfg, app_dir=app_dir) as gw, gw.http(None) as raw:
        key = await create_key(raw, {**NEW_KEY, "budgets": [budget(0.01)]})
        assert (await messages(raw, key["value"])).status == 200
        assert (await messages(raw, VK_A)).status == 200
    # stopped at once: a clean shutdown records and saves what the calls used

    async with serve_gateway(cfg, app_dir=app_dir) as gw:
        assert used(gw, "budget:vk:vk-a:0") == 0  # meters are restored when first used
        async with gw.http(None) as raw:
            got = await admin(raw, "GET", f"/virtual-keys/{key['id']}")
            assert got.status == 200 and got.json()["name"] == "ci", got
            assert_anthropic_error(await messages(raw, key["value"]), 402, "billing_error", "virtual key 'ci'")
            assert (await messages(raw, VK_A)).status == 200
            await settled(gw)
        assert used(gw, "budget:vk:vk-a:0") == pytest.approx(2 * 0.02001)


async def test_usage_is_saved_while_running(
    store: Store, make_gateway: MakeGateway, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("ok", usage=EXPENSIVE)))
    app_dir = tmp_path / "app"
    cfg = store.config(config(fake_upstream.url, vk("vk-a", VK_A, budgets=[budget(1.0)])))
    gw = await make_gateway(cfg, app_dir=app_dir)
    async with gw.http(None) as raw:
        assert (await messages(raw, VK_A)).status == 200
    await asyncio.sleep(0.7)  # past one flush interval (0.5 s)
    assert (await store.usage(app_dir))["budget:vk:vk-a:0"] == pytest.approx(0.02001)


async def test_restart_reconciles_the_config_file_and_keeps_api_keys(
    store: Store, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    answer_everything(fake_upstream)
    first = store.config(config(fake_upstream.url, vk("vk-a", VK_A), vk("vk-b", VK_B), teams=[{"id": "t-gone"}]))
    app_dir = tmp_path / "app"
    async with serve_gateway(first, app_dir=app_dir) as gw, gw.http(None) as raw:
        key = await create_key(raw)
        api_team = await admin(raw, "POST", "/teams", {"id": "t-api"})
        assert api_team.status == 201

    # vk-b and t-gone leave the file; vk-a changes there.
    second = store.config(config(fake_upstream.url, vk("vk-a", VK_A, is_active=False)))
    async with serve_gateway(second, app_dir=app_dir) as gw, gw.http(None) as raw:
        assert_anthropic_error(await messages(raw, VK_B), 401, "authentication_error")
        assert_anthropic_error(await messages(raw, VK_A), 403, "permission_error", "inactive")
        assert (await messages(raw, key["value"])).status == 200
        ids = {e["id"] for e in (await admin(raw, "GET", "/virtual-keys")).json()["data"]}
        teams = {e["id"] for e in (await admin(raw, "GET", "/teams")).json()["data"]}
    assert ids == {"vk-a", key["id"]}
    assert teams == {"t-api"}


async def test_admin_token_may_come_from_the_environment(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOVERNANCE_TEST_ADMIN_TOKEN", "token-from-env")
    gw = await make_gateway(config(fake_upstream.url, admin="env.GOVERNANCE_TEST_ADMIN_TOKEN"))
    async with gw.http(None) as raw:
        assert (await admin(raw, "GET", "/virtual-keys", token="token-from-env")).status == 200
        assert (await admin(raw, "GET", "/virtual-keys", token="env.GOVERNANCE_TEST_ADMIN_TOKEN")).status == 401


async def test_malformed_expires_at_in_the_config_file_is_a_config_error(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    """Refused before anything starts (like every other config problem), not a 500 on each call with the key."""
    with pytest.raises(ConfigError, match="expires_at"):
        await make_gateway(config(fake_upstream.url, vk("vk-a", VK_A, expires_at="next tuesday")))


async def test_malformed_expires_at_through_the_api_is_400(
    store: Store, make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    answer_everything(fake_upstream)
    gw = await make_gateway(store.config(config(fake_upstream.url)))
    async with gw.http(None) as raw:
        answer = await admin(raw, "POST", "/virtual-keys", {**NEW_KEY, "expires_at": "next tuesday"})
        assert_openai_error(answer, 400, "invalid_request_error", "expires_at")
        assert (await admin(raw, "GET", "/virtual-keys")).json()["data"] == []
        key = await create_key(raw)
        answer = await admin(raw, "PUT", f"/virtual-keys/{key['id']}", {"expires_at": "2031-02-30T00:00:00Z"})
        assert_openai_error(answer, 400, "invalid_request_error", "expires_at")
        assert (await messages(raw, key["value"])).status == 200


async def test_the_sqlite_store_is_where_config_store_path_says(fake_upstream: FakeUpstream, tmp_path: Path) -> None:
    """Bifrost's `config_store.config.path`: relative to the app dir, or absolute."""
    app_dir, elsewhere = tmp_path / "app", tmp_path / "elsewhere" / "governance.db"
    for path, expected in (("state/gov.db", app_dir / "state" / "gov.db"), (str(elsewhere), elsewhere)):
        settings = {**config(fake_upstream.url), "config_store": {"type": "sqlite", "config": {"path": path}}}
        async with serve_gateway(settings, app_dir=app_dir) as gw, gw.http(None) as raw:
            key = await create_key(raw)
        connection = sqlite3.connect(f"file:{expected}?mode=ro", uri=True, timeout=5)
        try:
            assert connection.execute("SELECT id FROM entries").fetchall() == [(key["id"],)]
        finally:
            connection.close()
    assert not (app_dir / "config.db").exists()


def test_config_store_warnings_name_only_what_is_not_honoured() -> None:
    def warnings(store: dict[str, Any]) -> list[str]:
        loaded = check_settings({"providers": {"mock": {}}, "config_store": store})
        return [line for line in loaded.warnings if "config_store" in line]

    assert warnings({"type": "sqlite", "config": {"path": "./config.db"}}) == []
    assert warnings({"type": "postgres", "config": {"dsn": "postgresql://u@127.0.0.1/gw"}}) == []
    assert warnings({"type": "mysql"}) == [
        "$.config_store.type: 'mysql' is not supported yet; governance state is kept in sqlite at <app-dir>/config.db"
    ]
    with pytest.raises(ConfigError, match=r"config_store.*config.path: a file path is expected"):
        check_settings({"providers": {"mock": {}}, "config_store": {"type": "sqlite", "config": {"path": 7}}})
