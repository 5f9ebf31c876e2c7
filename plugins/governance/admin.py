"""The admin API under /api/governance/: virtual keys, teams and customers (list, get, create, update,
delete) and a key's usage. Every route needs `Authorization: Bearer <governance.auth_config.admin_token>`, or
Basic with auth_config's admin_username and admin_password when its is_enabled (Bifrost's login)."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import msgspec
from aiohttp import web

from gateway import InvalidRequest, NotFound
from gateway.api import REDACTOR, decode_json, require_admin

from .config import Customer, Team, VirtualKey
from .lifecycle import GOVERNANCE, STORE
from .references import Resolver
from .store import Entry, Kind, key_hash
from .sync import announce

BASE = "/api/governance"
_ENCODER = msgspec.json.Encoder()
KINDS: dict[str, tuple[Kind, type[Entry]]] = {
    "virtual-keys": ("virtual_key", VirtualKey),
    "teams": ("team", Team),
    "customers": ("customer", Customer),
}


def add_routes(app: web.Application) -> None:
    for plural in KINDS:
        app.router.add_get(f"{BASE}/{plural}", _list)
        app.router.add_post(f"{BASE}/{plural}", _create)
        app.router.add_get(f"{BASE}/{plural}/{{id}}", _get)
        app.router.add_put(f"{BASE}/{plural}/{{id}}", _update)
        app.router.add_delete(f"{BASE}/{plural}/{{id}}", _delete)
    app.router.add_get(f"{BASE}/virtual-keys/{{id}}/usage", _usage)


def _admin(request: web.Request) -> tuple[Kind, type[Entry]]:
    """Check the admin credentials (gateway.api.require_admin) and say which collection the path names."""
    require_admin(request, "the governance admin API")
    return KINDS[request.path.removeprefix(BASE + "/").split("/")[0]]


def _public(entry: Entry) -> dict[str, Any]:
    data: dict[str, Any] = msgspec.to_builtins(entry)
    data.pop("value", None)  # a key's value is shown once, when it is created
    return data


def _json(data: object, status: int = 200) -> web.Response:
    return web.Response(status=status, body=_ENCODER.encode(data), content_type="application/json")


async def _list(request: web.Request) -> web.Response:
    kind, _ = _admin(request)
    entries = [_public(e.entry) for e in await request.app[STORE].entries() if e.kind == kind]
    return _json({"data": entries})


async def _get(request: web.Request) -> web.Response:
    return _json(_public(_in_force(request, *_admin(request))))


async def _create(request: web.Request) -> web.Response:
    kind, entry_type = _admin(request)
    raw = decode_json(msgspec.json.decode, await request.read())
    if not isinstance(raw, dict):
        raise InvalidRequest("expected a JSON object")
    raw.setdefault("id", str(uuid.uuid4()))
    value = None
    if kind == "virtual_key":
        value = raw["value"] = "sk-bf-" + secrets.token_urlsafe(32)
    entry = _convert(request, raw, entry_type)
    if _exists(request, kind, entry.id):
        raise InvalidRequest(f"an entry with id {entry.id!r} exists already", param="id")
    await _save(request, kind, entry, value, new=True)
    shown = _public(entry) | ({"value": value} if value else {})
    return _json(shown, status=201)


async def _update(request: web.Request) -> web.Response:
    kind, entry_type = _admin(request)
    current = _in_force(request, kind, entry_type)
    raw = decode_json(msgspec.json.decode, await request.read())
    if not isinstance(raw, dict):
        raise InvalidRequest("expected a JSON object")
    merged = msgspec.to_builtins(current) | raw | {"id": current.id}
    if kind == "virtual_key":
        merged["value"] = ""  # unchanged: the stored hash is kept
    entry = _convert(request, merged, entry_type)
    await _save(request, kind, entry, None, new=False)
    return _json(_public(entry))


async def _delete(request: web.Request) -> web.Response:
    kind, _ = _admin(request)
    entry_id = request.match_info["id"]
    deleted = await request.app[STORE].delete(kind, entry_id)
    _forget(request, kind, entry_id)  # gone from the store (maybe deleted by another gateway): gone here too
    if not deleted:
        raise NotFound(f"no {kind.replace('_', ' ')} {entry_id!r}")
    await announce(request.app, kind, entry_id)
    return web.Response(status=204)


def _forget(request: web.Request, kind: Kind, entry_id: str) -> None:
    directory = request.app[GOVERNANCE].directory
    directory.changed()
    if kind == "virtual_key":
        directory.remove_key(entry_id)  # stops working at once
    elif kind == "team":
        directory.teams.pop(entry_id, None)
    else:
        directory.customers.pop(entry_id, None)


async def _usage(request: web.Request) -> web.Response:
    _admin(request)
    governance = request.app[GOVERNANCE]
    key = governance.directory.keys.get(request.match_info["id"])
    if key is None:
        raise NotFound(f"no virtual key {request.match_info['id']!r}")
    meters = [m for m in governance.ledger.meters.values() if _owner(m.key) == key.id]
    rows = [
        {"meter": m.key, "label": m.label, "limit": m.limit, "used": m.used, "reserved": m.reserved,
         "window_start": m.window_start, "window_end": m.window_end}
        for m in meters
    ]  # fmt: skip
    return _json({"virtual_key": key.id, "meters": rows})


def _owner(meter_key: str) -> str | None:
    """The virtual key a meter belongs to: "budget:vk:<id>:0", "tokens:vk:<id>/<provider>" -> <id>."""
    parts = meter_key.split(":")
    if len(parts) < 3 or parts[1] != "vk":
        return None
    return parts[2].split("/")[0]


def _convert(request: web.Request, raw: dict[str, Any], entry_type: type[Entry]) -> Entry:
    """The entry, with the config's by-id budgets and rate limits it references attached (see references)."""
    try:
        entry = msgspec.convert(raw, entry_type)
    except msgspec.ValidationError as exc:
        raise InvalidRequest(f"invalid {entry_type.__name__}: {exc}") from None
    resolver = Resolver(request.app[GOVERNANCE].config)
    dangling = resolver.unknown(entry)
    if dangling:
        raise InvalidRequest("; ".join(dangling))
    if isinstance(entry, VirtualKey):
        return resolver.key(entry)
    if isinstance(entry, Team):
        return resolver.entry(entry, "team_id", entry.id)
    return resolver.entry(entry, "customer_id", entry.id)


def _table(request: web.Request, kind: Kind) -> dict[str, Any]:
    directory = request.app[GOVERNANCE].directory
    tables: dict[str, dict[str, Any]] = {
        "virtual_key": directory.keys,
        "team": directory.teams,
        "customer": directory.customers,
    }
    return tables[kind]


def _exists(request: web.Request, kind: Kind, entry_id: str) -> bool:
    return entry_id in _table(request, kind)


def _in_force(request: web.Request, kind: Kind, entry_type: type[Entry]) -> Entry:
    entry: Entry | None = _table(request, kind).get(request.match_info["id"])
    if entry is None:
        raise NotFound(f"no {kind.replace('_', ' ')} {request.match_info['id']!r}")
    return entry


async def _save(request: web.Request, kind: Kind, entry: Entry, value: str | None, *, new: bool) -> None:
    """Write the entry (`new`: created, else updated), then put it in force. The store decides, atomically, when
    several gateways share it: a create whose id another gateway took, or an update of an entry another deleted,
    writes nothing and is refused."""
    governance = request.app[GOVERNANCE]
    now = governance.clock()
    value_hash = key_hash(value) if value else None
    if value and value_hash:
        request.app[REDACTOR].add(value, value_hash)
    store = request.app[STORE]
    if new and not await store.create(kind, entry, value_hash, now):
        raise InvalidRequest(f"an entry with id {entry.id!r} exists already", param="id")
    if not new and not await store.update(kind, entry):
        _forget(request, kind, entry.id)
        raise NotFound(f"no {kind.replace('_', ' ')} {entry.id!r}")
    directory = governance.directory
    directory.changed()
    if isinstance(entry, VirtualKey):
        directory.put_key(entry, value_hash or directory.key_hashes[entry.id])
        directory.created.setdefault(f"vk:{entry.id}", now)
    elif isinstance(entry, Team):
        directory.teams[entry.id] = entry
        directory.created.setdefault(f"team:{entry.id}", now)
    else:
        directory.customers[entry.id] = entry
        directory.created.setdefault(f"customer:{entry.id}", now)
    await announce(request.app, kind, entry.id)
