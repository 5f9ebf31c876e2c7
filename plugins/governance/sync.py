"""Admin-API changes in force on every gateway process sharing the store: the node that made a change publishes which
entry changed (after the store committed it), and every other node reads that entry from the store again.

Messages can be missed (a node disconnected from Redis, or not yet subscribed): on each (re)subscription a node
reads every entry again and drops those gone from the store (`resync`). Without the `redis` section publish and
subscribe do nothing: one process holds every change already.
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from gateway.api import REDACTOR, publish, subscribe

from .config import Customer, Team, VirtualKey
from .directory import Directory
from .service import Governance
from .store import GovernanceStore, Kind, StoredEntry

TOPIC = "governance"


class Change(msgspec.Struct, frozen=True):
    kind: Kind
    id: str


async def announce(app: web.Application, kind: Kind, entry_id: str) -> None:
    """Tell the other nodes that an entry was created, updated or deleted (it is committed to the store)."""
    await publish(app, TOPIC, Change(kind, entry_id))


def follow(app: web.Application, store: GovernanceStore, governance: Governance) -> None:
    """Apply the other nodes' changes to this node's directory, from the store."""

    async def changed(change: Change) -> None:
        await reload(app, store, governance, (change.kind, change.id))

    async def resync() -> None:
        await reload(app, store, governance, None)

    subscribe(app, TOPIC, Change, changed, resync)


async def reload(
    app: web.Application, store: GovernanceStore, governance: Governance, only: tuple[Kind, str] | None
) -> None:
    """Make the directory hold what the store holds: for the entry `only`, or (None) for all of them."""
    stored: dict[tuple[Kind, str], StoredEntry]
    if only is not None:  # one change: one row read, however many entries the store holds
        found = await store.entry(*only)
        stored = {only: found} if found is not None else {}
    else:
        stored = {(_kind(each.kind), each.entry.id): each for each in await store.entries()}
    # Once for all the hashes: the Redactor compiles its pattern again each time it learns a value.
    app[REDACTOR].add(*(each.value_hash for each in stored.values() if each.value_hash is not None))
    directory = governance.directory
    wanted = {only} if only is not None else set(stored) | _present(directory)
    for kind, entry_id in wanted:
        found = stored.get((kind, entry_id))
        if found is None:
            _remove(directory, kind, entry_id)
        else:
            _put(directory, found)
    directory.changed()


def _kind(name: str) -> Kind:
    if name == "team":
        return "team"
    return "customer" if name == "customer" else "virtual_key"


def _present(directory: Directory) -> set[tuple[Kind, str]]:
    keys: set[tuple[Kind, str]] = {("virtual_key", i) for i in directory.keys}
    return keys | {("team", i) for i in directory.teams} | {("customer", i) for i in directory.customers}


def _put(directory: Directory, stored: StoredEntry) -> None:
    entry = stored.entry
    if isinstance(entry, VirtualKey):
        if stored.value_hash is None:
            return
        if directory.keys.get(entry.id) != entry or directory.key_hashes.get(entry.id) != stored.value_hash:
            directory.put_key(entry, stored.value_hash)
        directory.created.setdefault(f"vk:{entry.id}", stored.created_at)
    elif isinstance(entry, Team):
        if directory.teams.get(entry.id) != entry:
            directory.teams[entry.id] = entry
        directory.created.setdefault(f"team:{entry.id}", stored.created_at)
    elif isinstance(entry, Customer):
        if directory.customers.get(entry.id) != entry:
            directory.customers[entry.id] = entry
        directory.created.setdefault(f"customer:{entry.id}", stored.created_at)


def _remove(directory: Directory, kind: Kind, entry_id: str) -> None:
    if kind == "virtual_key":
        directory.remove_key(entry_id)
    elif kind == "team":
        directory.teams.pop(entry_id, None)
    else:
        directory.customers.pop(entry_id, None)
