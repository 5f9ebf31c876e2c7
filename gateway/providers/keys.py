"""Which provider key an attempt uses: weighted random among the keys that allow the model, unless the client
pins one (`x-bf-api-key: <name>`) or a session sticks to one (`x-bf-session-id`, for `x-bf-session-ttl` seconds).
Keys refused by the upstream (401/402/403) are dead for the rest of the call; a 429 moves on to another key. Keys
an earlier call saw refused (`health.Health`) are tried only when no other key is left."""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Callable

from multidict import CIMultiDictProxy

from ..config import ProviderKey
from ..errors import InvalidRequest

PIN = "x-bf-api-key"
SESSION = "x-bf-session-id"
SESSION_TTL = "x-bf-session-ttl"
DEFAULT_SESSION_TTL_S = 3600.0
MAX_SESSIONS = 100_000  # the oldest sessions are forgotten first beyond this


class Sessions:
    """Sticky key choices per session id, in memory (one app's; shared state across processes is Redis's)."""

    def __init__(self) -> None:
        self._keys: OrderedDict[str, tuple[str, float]] = OrderedDict()  # "provider/session" -> (key, expiry)

    def get(self, session: str, now: float) -> str | None:
        found = self._keys.get(session)
        if found is None or found[1] <= now:
            return None
        return found[0]

    def put(self, session: str, key_name: str, expires: float) -> None:
        self._keys[session] = (key_name, expires)
        self._keys.move_to_end(session)
        while len(self._keys) > MAX_SESSIONS:
            self._keys.popitem(last=False)


class KeyChooser:
    """The keys of one call to one provider, in the order to try them."""

    def __init__(
        self,
        keys: list[ProviderKey],
        model: str,
        headers: CIMultiDictProxy[str],
        rng: random.Random,
        marked_dead: Callable[[ProviderKey], bool],
    ):
        eligible = [k for k in keys if k.allows(model)]
        pinned = headers.get(PIN)
        if pinned is not None:
            eligible = [k for k in eligible if k.name == pinned]
            if not eligible:
                raise InvalidRequest(f"{PIN}: no key named {pinned!r} serves model {model!r}")
        self.eligible = eligible
        self._rng = rng
        self._marked_dead = marked_dead
        self._dead: set[int] = set()
        self._current: ProviderKey | None = None

    def first(self, sticky: str | None) -> ProviderKey | None:
        usable = self._unmarked(self.eligible)
        stuck = next((k for k in usable if sticky is not None and k.name == sticky), None)
        self._current = stuck or self._pick(usable)
        return self._current

    def kill_current(self) -> ProviderKey | None:
        """The current key was refused: never again in this call; the next live key, or None."""
        if self._current is not None:
            self._dead.add(id(self._current))
        return self.rotate()

    def rotate(self) -> ProviderKey | None:
        """Another live key than the current one if there is one, else the current one (if alive)."""
        live = [k for k in self.eligible if id(k) not in self._dead]
        others = [k for k in live if k is not self._current]
        self._current = self._pick(self._unmarked(others)) if others else (live[0] if live else None)
        return self._current

    def _unmarked(self, keys: list[ProviderKey]) -> list[ProviderKey]:
        """The keys no earlier call saw refused lately, or all of them when every one was (one may be back)."""
        if len(keys) <= 1:
            return keys
        fresh = [k for k in keys if not self._marked_dead(k)]
        return fresh or keys

    def _pick(self, keys: list[ProviderKey]) -> ProviderKey | None:
        if len(keys) <= 1:
            return keys[0] if keys else None
        return self._rng.choices(keys, weights=[k.weight for k in keys])[0]


def session_ttl(headers: CIMultiDictProxy[str]) -> float:
    value = headers.get(SESSION_TTL)
    if value is None:
        return DEFAULT_SESSION_TTL_S
    try:
        ttl = float(value)
    except ValueError:
        ttl = -1.0
    if ttl <= 0:
        raise InvalidRequest(f"{SESSION_TTL} must be a positive number of seconds, not {value!r}")
    return ttl
