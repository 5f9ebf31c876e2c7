"""Semantic mode: the request's text embedded by a provider's OpenAI-shape `POST /v1/embeddings`, and an index
of stored answers' vectors searched by cosine similarity.

The index lives in the gateway process (with a Redis store, the answers are shared and each process indexes the
ones it stored). Vectors are normalized once when added, so a search is one matrix-vector product: numpy when it
is installed (the `semantic` extra), else pure Python (fine for a few thousand entries, slow beyond).
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from typing import Any

import aiohttp
import msgspec

from gateway import ChatCall
from gateway.api import Settings

try:  # optional: the fast path for large indexes
    import numpy as np
except ImportError:  # pragma: no cover - exercised where numpy is absent
    np = None  # type: ignore[assignment]

log = logging.getLogger("gateway.semantic_cache")
WARN_EVERY = 60.0
DEFAULT_BASE_URLS = {"openai": "https://api.openai.com"}


class _Embedding(msgspec.Struct):
    embedding: list[float]


class _Embeddings(msgspec.Struct):
    data: list[_Embedding]


_DECODER = msgspec.json.Decoder(_Embeddings)


def request_text(call: ChatCall, exclude_system: bool) -> str:
    """The text a request is compared by: its system prompt (unless excluded) and its messages' text."""
    request = call.request
    parts: list[str] = []
    if not exclude_system:
        parts += _texts(request.system)
    for message in request.messages:
        parts += [f"{message.role}: {text}" for text in _texts(message.content)]
    return "\n".join(parts)


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [block.text for block in content if isinstance(getattr(block, "text", None), str)]
    return []


class Index:
    """Vectors by group (cache key, tenant and parameters), newest last; at most `max_entries` in all."""

    def __init__(self, max_entries: int) -> None:
        self._max = max_entries
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()  # id -> (group, expiry)
        self._groups: dict[str, _Group] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, group: str, cache_id: str, vector: list[float], expires_at: float) -> None:
        unit = _unit(vector)
        if unit is None:
            return
        self.remove(cache_id)
        try:
            self._groups.setdefault(group, _Group()).add(cache_id, unit)
        except ValueError:  # another dimension than the group's (the embedding model changed): not indexed
            return
        self._entries[cache_id] = (group, expires_at)
        while len(self._entries) > self._max:
            self.remove(next(iter(self._entries)))

    def remove(self, cache_id: str) -> None:
        found = self._entries.pop(cache_id, None)
        if found is not None:
            group = self._groups[found[0]]
            group.remove(cache_id)
            if not group.ids:
                del self._groups[found[0]]

    def remove_prefix(self, prefix: str) -> None:
        for cache_id in [i for i in self._entries if i.startswith(prefix)]:
            self.remove(cache_id)

    def search(self, group: str, vector: list[float], threshold: float) -> list[tuple[str, float]]:
        """Entries of `group` at least `threshold` similar, best first (at most 3: the rest are rarely needed)."""
        found = self._groups.get(group)
        unit = _unit(vector)
        if found is None or unit is None:
            return []
        now = time.time()
        scored = [(i, s) for i, s in found.best(unit, 3) if s >= threshold and self._entries[i][1] > now]
        return scored


class _Group:
    """One group's vectors: with numpy the rows of a matrix grown by doubling (a removal moves the last row into
    the hole), so that adding is O(1) and a search is one matrix-vector product over the live rows."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self._at: dict[str, int] = {}
        self._rows: Any = [] if np is None else None  # a list of lists, or a numpy matrix with spare rows

    def add(self, cache_id: str, unit: Any) -> None:
        count = len(self.ids)
        if np is None:
            self._rows.append(unit)
        else:
            if self._rows is None or count == len(self._rows):
                grown = np.empty((max(64, 2 * count), len(unit)), dtype=np.float32)
                if self._rows is not None:
                    grown[:count] = self._rows
                self._rows = grown
            self._rows[count] = unit  # a vector of another dimension raises: Index.add skips it
        self._at[cache_id] = count
        self.ids.append(cache_id)

    def remove(self, cache_id: str) -> None:
        at, last = self._at.pop(cache_id), len(self.ids) - 1
        if at != last:
            moved = self.ids[last]
            self.ids[at], self._at[moved] = moved, at
            self._rows[at] = self._rows[last]
        self.ids.pop()
        if np is None:
            self._rows.pop()

    def best(self, unit: Any, count: int) -> list[tuple[str, float]]:
        if np is None:
            scores = [sum(x * y for x, y in zip(row, unit, strict=False)) for row in self._rows]
            order = sorted(range(len(scores)), key=scores.__getitem__, reverse=True)[:count]
            return [(self.ids[i], float(scores[i])) for i in order]
        if self._rows is None or self._rows.shape[1] != len(unit):
            return []
        scores = self._rows[: len(self.ids)] @ unit
        picked = np.argsort(-scores)[:count] if len(scores) <= count else np.argpartition(-scores, count)[:count]
        order = sorted(picked.tolist(), key=lambda i: -float(scores[i]))
        return [(self.ids[i], float(scores[i])) for i in order]


def _unit(vector: list[float]) -> Any:
    norm = math.sqrt(sum(x * x for x in vector)) if np is None else float(np.linalg.norm(vector))
    if not norm or not math.isfinite(norm):
        return None
    if np is None:
        return [x / norm for x in vector]
    return np.asarray(vector, dtype=np.float32) / np.float32(norm)


class Semantic:
    """Embeds through the configured provider (its first key and base URL) and keeps the index."""

    def __init__(self, settings: Settings, provider: str, model: str, dimension: int, max_entries: int) -> None:
        config = settings.providers.get(provider)
        base = config.network_config.base_url if config is not None else None
        self._url = (base or DEFAULT_BASE_URLS.get(provider, "")).rstrip("/") + "/v1/embeddings"
        self._key = config.keys[0].value if config is not None and config.keys else ""
        self._model = model
        self._dimension = dimension
        self.index = Index(max_entries)
        self._session: aiohttp.ClientSession | None = None
        self._last_warning = -WARN_EVERY

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def embed(self, call: ChatCall, exclude_system: bool) -> list[float] | None:
        """The request's vector, or None (and a warning a minute at most) when the provider fails."""
        text = request_text(call, exclude_system)
        if not text or self._session is None:
            return None
        body: dict[str, Any] = {"model": self._model, "input": text}
        if self._dimension > 1:
            body["dimensions"] = self._dimension
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        try:
            async with self._session.post(self._url, json=body, headers=headers) as resp:
                raw = await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"HTTP {resp.status}")
            vectors = _DECODER.decode(raw).data
            return vectors[0].embedding if vectors else None
        except Exception as exc:  # an embedding failure is a miss, never a failed request
            now = time.monotonic()
            if now - self._last_warning >= WARN_EVERY:
                self._last_warning = now
                log.warning("response cache: embedding failed (%s); semantic lookup skipped", type(exc).__name__)
            return None
