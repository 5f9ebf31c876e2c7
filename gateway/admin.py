"""The gateway's admin credentials, checked in one place for every admin surface (the governance API, the request
log's API, /metrics, provider health, a plugin's own routes): `governance.auth_config`'s admin token as `Bearer`
(the scheme in any case), or its username and password as HTTP Basic when `is_enabled` (Bifrost's login).

Failed logins are throttled per client address, across all those surfaces together: an address that fails
`MAX_FAILURES` times in `WINDOW_S` gets a 429 before its next guess is even compared. In memory and per process,
bounded (the oldest addresses are forgotten first). Behind a reverse proxy every caller shares the proxy's
address, so a flood of bad tokens locks the admin API for everyone for a minute: the price of not letting anyone
guess the token at wire speed.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import msgspec
from aiohttp import web

from .config_base import ConfigStruct
from .errors import AuthenticationFailed, RateLimited
from .keys import ADMIN, ADMIN_PATHS

MAX_FAILURES = 10  # per address and window
WINDOW_S = 60.0
MAX_ADDRESSES = 10_000
ADMIN_API = "/api"  # the core's admin routes, and every plugin's under it


class AdminAuth(ConfigStruct, frozen=True):
    """`governance.auth_config` (Bifrost's names; the governance plugin validates the section with this Struct):
    without a token or a username and password, no one is admin."""

    admin_token: str | None = None  # "env.NAME" allowed
    # Bifrost's: the admin routes also take HTTP Basic with these, when is_enabled.
    admin_username: str | None = None
    admin_password: str | None = None
    is_enabled: bool = False

    @property
    def basic_enabled(self) -> bool:
        """An empty password never works."""
        return self.is_enabled and bool(self.admin_username) and bool(self.admin_password)

    @property
    def configured(self) -> bool:
        return bool(self.admin_token) or self.basic_enabled


def admin_auth(governance: dict[str, Any]) -> AdminAuth:
    """Read from the raw `governance` section (already validated by the governance plugin, when it is loaded)."""
    try:
        return msgspec.convert(governance.get("auth_config") or {}, AdminAuth)
    except msgspec.ValidationError:
        return AdminAuth()  # a malformed section is the governance plugin's to report; it grants nothing here


class Admin:
    def __init__(self, auth: AdminAuth, clock: Callable[[], float] = time.monotonic) -> None:
        self.auth = auth
        self._clock = clock
        self._failures: OrderedDict[str, tuple[float, int]] = OrderedDict()  # address -> (window start, count)

    def set_clock(self, clock: Callable[[], float]) -> None:
        """Tests move time with an injected clock."""
        self._clock = clock

    def check(self, request: web.Request, what: str) -> None:
        """Raise RateLimited (a throttled address) or AuthenticationFailed unless `request` is the admin's."""
        address = request.remote or ""
        self._throttle(address)
        scheme, _, given = request.headers.get("Authorization", "").strip().partition(" ")
        if not self._accepted(scheme.lower(), given.strip()):
            self._failed(address)
            basic = " (or Basic with the admin username and password)" if self.auth.basic_enabled else ""
            raise AuthenticationFailed(f"{what} needs Authorization: Bearer <admin token>{basic}")

    def _accepted(self, scheme: str, given: str) -> bool:
        auth = self.auth
        if scheme == "bearer":
            return bool(auth.admin_token) and hmac.compare_digest(given.encode(), (auth.admin_token or "").encode())
        if scheme != "basic" or not auth.basic_enabled:
            return False
        try:
            user, sep, password = base64.b64decode(given, validate=True).decode().partition(":")
        except (binascii.Error, ValueError):
            return False
        # Both compared whatever the first gives, so the time does not tell which one was wrong.
        user_ok = hmac.compare_digest(user.encode(), (auth.admin_username or "").encode())
        password_ok = hmac.compare_digest(password.encode(), (auth.admin_password or "").encode())
        return bool(sep) and user_ok and password_ok

    def _throttle(self, address: str) -> None:
        start, count = self._failures.get(address, (0.0, 0))
        wait = start + WINDOW_S - self._clock()
        if count >= MAX_FAILURES and wait > 0:
            raise RateLimited("too many failed admin logins from this address; try again later", retry_after=wait)

    def _failed(self, address: str) -> None:
        now = self._clock()
        start, count = self._failures.pop(address, (now, 0))
        if now - start >= WINDOW_S:
            start, count = now, 0
        self._failures[address] = (start, count + 1)
        while len(self._failures) > MAX_ADDRESSES:
            self._failures.popitem(last=False)


def add_admin_path(app: web.Application, prefix: str) -> None:
    """At start-up (gw_register_routes): `prefix` and the paths under it are admin routes, like `/api/...`: with
    `--admin-port` they answer only on the admin listener, and `GET /` does not list them. For a plugin's page that
    calls the admin API from its own origin (the dashboard's `/ui`). Routes under `/api/` are admin routes already."""
    app[ADMIN_PATHS].append(prefix.rstrip("/"))


def is_admin_path(app: web.Application, path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in app[ADMIN_PATHS])


def require_admin(request: web.Request, what: str) -> None:
    """For a plugin's admin route: raise (401, or 429 when throttled) unless the caller has the admin credentials.
    `what` names the route in the error ("the logs API")."""
    request.app[ADMIN].check(request, what)
