"""What the attempts of every call taught about each provider and key: counts, the last error, and the keys an
upstream refused.

A key refused with 401/402/403 (revoked, out of credit, forbidden) is marked dead for `DEAD_FOR_S`: later calls
try the provider's live keys first instead of paying a refused round trip each, and only fall back to a dead key
when no live one is left (it may have been restored). In memory, per process (with the `redis` section, marks are
shared: providers/shared.py); `GET /api/providers/health` shows it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import msgspec

from ..config import ProviderKey

DEAD_FOR_S = 60.0


class KeyHealth(msgspec.Struct, frozen=True, kw_only=True):
    name: str  # the key's configured name, or "#<position>" for an unnamed key (never its value)
    state: str  # "live" | "dead"
    calls: int
    errors: int
    last_status: int | None
    dead_until: float | None  # Unix seconds


class ProviderHealth(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    in_flight: int
    waiting: int
    concurrency: int
    buffer_size: int
    calls: int
    errors: int
    last_error: str | None  # "kind: message", secrets masked
    last_error_at: float | None  # Unix seconds
    keys: list[KeyHealth]


class _Key:
    __slots__ = ("calls", "dead_until", "errors", "last_status", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls = self.errors = 0
        self.last_status: int | None = None
        self.dead_until = 0.0  # monotonic


class _Provider:
    __slots__ = ("calls", "errors", "keys", "last_error", "last_error_at")

    def __init__(self) -> None:
        self.calls = self.errors = 0
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.keys: dict[int, _Key] = {}  # id(ProviderKey) -> its record


class Health:
    def __init__(self, keys: Mapping[str, list[ProviderKey]], clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._providers: dict[str, _Provider] = {}
        for provider, configured in keys.items():
            record = self._providers[provider] = _Provider()
            for position, key in enumerate(configured, 1):
                record.keys[id(key)] = _Key(key.name or f"#{position}")

    def set_clock(self, clock: Callable[[], float]) -> None:
        """Tests move time with an injected clock."""
        self._clock = clock

    def is_dead(self, provider: str, key: ProviderKey) -> bool:
        record = self._providers[provider].keys.get(id(key))
        return record is not None and record.dead_until > self._clock()

    def answered(self, provider: str, key: ProviderKey) -> None:
        record = self._providers[provider]
        record.calls += 1
        found = record.keys.get(id(key))
        if found is not None:
            found.calls += 1
            found.last_status = 200
            found.dead_until = 0.0  # it works again

    def failed(self, provider: str, key: ProviderKey, status: int, error: str, *, refused: bool) -> None:
        record = self._providers[provider]
        record.calls += 1
        record.errors += 1
        record.last_error, record.last_error_at = error, time.time()
        found = record.keys.get(id(key))
        if found is not None:
            found.calls += 1
            found.errors += 1
            found.last_status = status
            if refused:
                found.dead_until = self._clock() + DEAD_FOR_S

    def label(self, provider: str, key: ProviderKey) -> str | None:
        """The key's name as health shows it and other gateways know it ("#<position>" when unnamed)."""
        record = self._providers[provider].keys.get(id(key))
        return record.name if record is not None else None

    def mark_dead(self, provider: str, label: str, seconds: float) -> None:
        """Another gateway saw the key refused: dead here too for `seconds` (unless marked for longer already)."""
        found = self._providers.get(provider)
        if found is None or seconds <= 0:  # a provider this node lacks, or a mark that expired on its way
            return
        until = self._clock() + min(seconds, DEAD_FOR_S)
        for record in found.keys.values():
            if record.name == label:
                record.dead_until = max(record.dead_until, until)

    def snapshot(self, provider: str, gate: GateState, mask: Callable[[str], str]) -> ProviderHealth:
        record = self._providers[provider]
        now, wall = self._clock(), time.time()
        keys = [
            KeyHealth(
                name=k.name,
                state="dead" if k.dead_until > now else "live",
                calls=k.calls,
                errors=k.errors,
                last_status=k.last_status,
                dead_until=round(wall + k.dead_until - now, 3) if k.dead_until > now else None,
            )
            for k in record.keys.values()
        ]
        return ProviderHealth(
            name=provider,
            in_flight=gate.in_flight,
            waiting=gate.waiting,
            concurrency=gate.concurrency,
            buffer_size=gate.buffer_size,
            calls=record.calls,
            errors=record.errors,
            last_error=mask(record.last_error) if record.last_error is not None else None,
            last_error_at=record.last_error_at,
            keys=keys,
        )


class GateState(msgspec.Struct, frozen=True):
    in_flight: int
    waiting: int
    concurrency: int
    buffer_size: int
