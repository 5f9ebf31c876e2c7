"""Raw HTTP against a gateway, for what the SDKs hide (exact bytes, headers, SSE frames, bodies they would refuse to
send): one client (`Http`) and one reply type (`Answer`)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

from .wire import SseEvent, parse_sse

CLIENT_KEY = "client-key-never-forwarded"  # what test clients send as their own key
ANTHROPIC_VERSION = "2023-06-01"
_DEFAULT = object()


@dataclass
class Answer:
    """A gateway answer read in full."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    arrivals: list[float] = field(default_factory=list)  # seconds after sending at which each body piece arrived

    def json(self) -> Any:
        return json.loads(self.body)

    def events(self) -> list[SseEvent]:
        """The body as SSE events."""
        return parse_sse(self.body)

    def chunks(self) -> list[dict[str, Any]]:
        """The JSON chunks of an OpenAI stream, without the final [DONE]."""
        return [e.json() for e in self.events() if e.data != "[DONE]"]

    def __repr__(self) -> str:
        return f"Answer({self.status}, {dict(self.headers)!r}, {self.body[:800]!r})"


Headers = Mapping[str, str | None]


class Http:
    """One aiohttp session against a gateway. Every request is JSON with an anthropic-version and the client key
    (x-api-key, or `Authorization: Bearer` with `bearer=True`); `key=None` sends none, `bare=True` sends none of
    these defaults. Extra headers replace defaults of the same name in any case; a None value removes one."""

    def __init__(self, base_url: str, key: str | None = CLIENT_KEY, *, bearer: bool = False, bare: bool = False):
        self.base_url = base_url.rstrip("/")
        self.key = None if bare else key
        self.bearer = bearer
        self.bare = bare
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()

    def headers(self, key: Any = _DEFAULT, extra: Headers | None = None) -> CIMultiDict[str]:
        key = self.key if key is _DEFAULT else key
        sent: CIMultiDict[str] = CIMultiDict()
        if not self.bare:
            sent.update({"Content-Type": "application/json", "anthropic-version": ANTHROPIC_VERSION})
        if key is not None:
            sent.update({"Authorization": f"Bearer {key}"} if self.bearer else {"x-api-key": key})
        for name, value in (extra or {}).items():
            sent.popall(name, None)
            if value is not None:
                sent[name] = value
        return sent

    async def request(
        self,
        method: str,
        path: str,
        body: bytes | Mapping[str, Any] | None = None,
        headers: Headers | None = None,
        key: Any = _DEFAULT,
        params: Mapping[str, str] | None = None,
    ) -> Answer:
        """Send and read the whole answer, noting when each piece of the body arrived (streams)."""
        assert self._session is not None, "use `async with Http(url) as http:`"
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        start = time.monotonic()
        sent = self.headers(key, headers)
        async with self._session.request(method, self.base_url + path, data=data, headers=sent, params=params) as resp:
            pieces: list[bytes] = []
            arrivals: list[float] = []
            async for piece in resp.content.iter_any():
                pieces.append(piece)
                arrivals.append(time.monotonic() - start)
            return Answer(resp.status, resp.headers, b"".join(pieces), arrivals)

    async def post(
        self, path: str, body: bytes | Mapping[str, Any], headers: Headers | None = None, key: Any = _DEFAULT
    ) -> Answer:
        return await self.request("POST", path, body, headers, key)

    async def get(
        self, path: str, headers: Headers | None = None, key: Any = _DEFAULT, params: Mapping[str, str] | None = None
    ) -> Answer:
        return await self.request("GET", path, None, headers, key, params)


async def post_once(
    url: str,
    body: bytes | Mapping[str, Any],
    headers: Headers | None = None,
    key: Any = _DEFAULT,
    *,
    bearer: bool = False,
) -> Answer:
    """One POST to a full URL with a session of its own (the Http defaults; `headers` add to them)."""
    async with Http(url, bearer=bearer) as http:
        return await http.post("", body, headers, key)


async def get_once(url: str, headers: Headers | None = None, key: Any = None) -> Answer:
    """One GET to a full URL with a session of its own (no key unless given)."""
    async with Http(url) as http:
        return await http.get("", headers, key)
