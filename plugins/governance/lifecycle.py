"""Governance's start and stop: open the store (pg_store.open_store: SQLite or PostgreSQL), reconcile the config
file into it, load what is in force, and save usage in the background (every FLUSH_INTERVAL_S, and once more at
shutdown)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from gateway import Overloaded
from gateway.api import REDACTOR, REDIS, SETTINGS, add_hooks, count_text, remove_hooks

from .config import GovernanceConfig
from .hooks import RequestHooks
from .pg_store import open_store
from .service import Governance
from .shared import SharedCounters
from .store import ConfigEntry, GovernanceStore, key_hash
from .sync import follow

log = logging.getLogger("gateway.governance")
GOVERNANCE = web.AppKey("governance", Governance)
STORE: web.AppKey[GovernanceStore] = web.AppKey("governance_store")
FLUSH_INTERVAL_S = 0.5
HOOKS_NAME = "governance.requests"


@contextlib.asynccontextmanager
async def running(app: web.Application, config: GovernanceConfig) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    store = await open_store(app)
    governance = app[GOVERNANCE]
    governance.enforce_auth = settings.client.enforce_auth_on_inference
    app[STORE] = store
    _register_secrets(app, config)
    await reconcile(store, config, governance.clock())
    await load(store, governance)
    app[REDACTOR].add(*governance.directory.key_hashes.values())  # API-created keys' hashes too
    _warn_if_open(governance, config)
    shared = None
    if settings.redis is not None:  # budgets and rate limits held in Redis, for every gateway process on it
        shared = governance.counters = SharedCounters(app[REDIS], governance.ledger, settings.redis.on_failure)
    follow(app, store, governance)  # the other gateway processes' admin-API changes (with the `redis` section)
    warming = None
    if governance.in_use:  # before the engine reads the hook table (its context starts after this one)
        add_hooks(app, RequestHooks(governance), HOOKS_NAME)
        # A call its worst case would deny is counted exactly before it is refused; the tokenizer that does it
        # takes ~0.5 s to load here, which the first such call (per process) would wait for: load it now instead.
        warming = asyncio.create_task(asyncio.to_thread(count_text, "warm up"))
    flusher = asyncio.create_task(_flush_forever(store, governance))
    try:
        yield
    finally:
        if warming is not None:
            await warming  # a thread cannot be cancelled: a stop in the first half second waits for it
        remove_hooks(app, HOOKS_NAME)
        if shared is not None:
            await shared.close()
        flusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flusher
        try:
            await flush(store, governance)
        except Overloaded as error:  # the database out of reach: a line, not a traceback at every stop
            log.warning("governance usage not saved at shutdown: %s", error)
        await store.close()


def _warn_if_open(governance: Governance, config: GovernanceConfig) -> None:
    """Governance that lets calls without a virtual key through ungoverned must say so, once, at start-up."""
    default = config.default_virtual_key
    if default is not None and default not in governance.directory.keys:
        log.error(
            "governance.default_virtual_key %r names no virtual key: calls without a key will be refused", default
        )
    elif governance.in_use and not governance.enforce_auth and default is None:
        log.warning(
            "governance is in use, but calls without a virtual key are not governed (no budgets, no rate limits,"
            " every provider and model): set client.enforce_auth_on_inference to require a key, or"
            " governance.default_virtual_key to govern them as one key"
        )


def _register_secrets(app: web.Application, config: GovernanceConfig) -> None:
    """Virtual keys, their stored hashes, the admin token and password never appear in an error or a log line."""
    redactor = app[REDACTOR]
    for key in config.virtual_keys:
        redactor.add(key.value, key_hash(key.value))
    auth = config.auth_config
    redactor.add(*(secret for secret in (auth.admin_token, auth.admin_password) if secret))
    if auth.admin_username and auth.admin_password:  # the Basic credentials as they travel, too
        redactor.add(base64.b64encode(f"{auth.admin_username}:{auth.admin_password}".encode()).decode())


async def reconcile(store: GovernanceStore, config: GovernanceConfig, now: float) -> None:
    """Make the store hold the config file's entries: added or updated, and removed once gone from the file."""
    entries = [
        *(ConfigEntry("customer", customer) for customer in config.customers),
        *(ConfigEntry("team", team) for team in config.teams),
        *(ConfigEntry("virtual_key", key, key_hash(key.value)) for key in config.virtual_keys),
    ]
    await store.reconcile(entries, now)


async def load(store: GovernanceStore, governance: Governance) -> None:
    directory = governance.directory
    for stored in await store.entries():
        entry = stored.entry
        if stored.kind == "virtual_key" and stored.value_hash is not None:
            directory.put_key(entry, stored.value_hash)  # type: ignore[arg-type]
            directory.created[f"vk:{entry.id}"] = stored.created_at
        elif stored.kind == "team":
            directory.teams[entry.id] = entry  # type: ignore[assignment]
            directory.created[f"team:{entry.id}"] = stored.created_at
        elif stored.kind == "customer":
            directory.customers[entry.id] = entry  # type: ignore[assignment]
            directory.created[f"customer:{entry.id}"] = stored.created_at
    directory.changed()
    governance.ledger.restored = {meter: (start, used) for meter, start, used, _ in await store.usage()}


async def flush(store: GovernanceStore, governance: Governance) -> None:
    ledger = governance.ledger
    if not ledger.dirty:
        return
    keys, ledger.dirty = ledger.dirty, set()
    rows = [(k, m.window_start, m.used, m.anchor) for k in keys if (m := ledger.meters.get(k)) is not None]
    try:
        await store.save_usage(rows)
    except Exception:
        ledger.dirty |= keys  # try again at the next flush
        raise


async def _flush_forever(store: GovernanceStore, governance: Governance) -> None:
    unreachable = False  # a database out of reach is said once per outage, not with a traceback every flush
    while True:
        await asyncio.sleep(FLUSH_INTERVAL_S)
        try:
            await flush(store, governance)
        except Overloaded as error:
            if not unreachable:
                log.warning("could not save governance usage: %s; retrying", error)
            unreachable = True
        except Exception:
            log.exception("could not save governance usage; retrying")
        else:
            unreachable = False
