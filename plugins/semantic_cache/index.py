"""The semantic index: stored answers' vectors by group (cache key, tenant and parameters), searched by cosine.

It lives in the gateway process (with a Redis store the answers are shared, and each process indexes the ones it
stored). Vectors are normalized once when added, so similarity is a dot product. With numpy (the `semantic`
extra) a group's vectors are rows of a matrix grown by doubling (a removal moves the last row into the hole):
adding is O(1), a search is one matrix-vector product. Above 128 dimensions the search has two stages, because a
full product over 100,000 x 1536 floats reads 600 MB (about 25 ms here): a product with the vectors projected to
128 random directions (Johnson-Lindenstrauss: cosines kept to about +-0.09) picks 64 candidates, and their exact
similarities, from float16 copies of the full vectors, decide. 128 rather than 256: the first stage reads half
as much (51 MB at 100,000 entries: about 2 ms instead of 3.5-8 ms here, the larger figures with the other core
busy), and the nearest entry still makes the 64 when every stored vector is 0.5 similar to every other (tested).
Without numpy it is pure Python: exact, fine for a few thousand entries.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from typing import Any

try:  # optional: the fast path
    import numpy as np
except ImportError:  # pragma: no cover - exercised where numpy is absent
    np = None  # type: ignore[assignment]

PROJECTED = 128  # dimensions of the first stage's vectors
CANDIDATES = 64  # rows the first stage hands to the exact second


class Index:
    """At most `max_entries` vectors in all, the oldest dropped first. `fast` (numpy) is the default where numpy
    is installed; False is the pure-Python search."""

    def __init__(self, max_entries: int, fast: bool | None = None) -> None:
        self._max = max_entries
        self._fast = np is not None if fast is None else fast and np is not None
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()  # id -> (group, expiry)
        self._groups: dict[str, _Group] = {}
        self._projections: dict[int, Any] = {}  # dimension -> its random projection (shared by the groups)

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, group: str, cache_id: str, vector: list[float], expires_at: float) -> None:
        unit = _unit(vector, self._fast)
        if unit is None:
            return
        self.remove(cache_id)
        if group not in self._groups:
            self._groups[group] = _Group(self._fast, self._projection(len(vector)))
        try:
            self._groups[group].add(cache_id, unit)
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
        unit = _unit(vector, self._fast)
        if found is None or unit is None:
            return []
        now = time.time()
        return [(i, s) for i, s in found.best(unit, 3) if s >= threshold and self._entries[i][1] > now]

    def _projection(self, dimension: int) -> Any:
        if not self._fast or dimension <= PROJECTED:
            return None
        if dimension not in self._projections:
            rng = np.random.default_rng(dimension)  # fixed: the same directions for every group and process
            matrix = rng.standard_normal((dimension, PROJECTED), dtype=np.float32) / np.float32(math.sqrt(PROJECTED))
            self._projections[dimension] = matrix
        return self._projections[dimension]


class _Rows:
    """A numpy matrix of rows with spare capacity, grown by doubling."""

    def __init__(self, width: int, dtype: Any) -> None:
        self.data = np.empty((64, width), dtype=dtype)

    def put(self, at: int, row: Any) -> None:
        if at == len(self.data):
            grown = np.empty((2 * at, self.data.shape[1]), dtype=self.data.dtype)
            grown[:at] = self.data
            self.data = grown
        self.data[at] = row  # a row of another width raises ValueError

    def move(self, source: int, to: int) -> None:
        self.data[to] = self.data[source]


class _Group:
    def __init__(self, fast: bool, projection: Any) -> None:
        self._fast = fast
        self.ids: list[str] = []
        self._at: dict[str, int] = {}
        self._projection = projection
        self._list: list[Any] = []  # without numpy
        self._full: _Rows | None = None
        self._projected: _Rows | None = None

    def add(self, cache_id: str, unit: Any) -> None:
        count = len(self.ids)
        if not self._fast:
            if self._list and len(self._list[0]) != len(unit):
                raise ValueError("dimension")
            self._list.append(unit)
        else:
            if self._full is None:
                self._full = _Rows(len(unit), np.float32 if self._projection is None else np.float16)
            self._full.put(count, unit)
            if self._projection is not None:
                self._projected = self._projected or _Rows(PROJECTED, np.float32)
                self._projected.put(count, unit @ self._projection)
        self._at[cache_id] = count
        self.ids.append(cache_id)

    def remove(self, cache_id: str) -> None:
        at, last = self._at.pop(cache_id), len(self.ids) - 1
        if at != last:
            moved = self.ids[last]
            self.ids[at], self._at[moved] = moved, at
            for rows in (self._full, self._projected):
                if rows is not None:
                    rows.move(last, at)
            if not self._fast:
                self._list[at] = self._list[last]
        self.ids.pop()
        if not self._fast:
            self._list.pop()

    def best(self, unit: Any, count: int) -> list[tuple[str, float]]:
        if not self._fast:
            if self._list and len(self._list[0]) != len(unit):
                return []
            scores = [sum(x * y for x, y in zip(row, unit, strict=True)) for row in self._list]
            order = sorted(range(len(scores)), key=scores.__getitem__, reverse=True)[:count]
            return [(self.ids[i], float(scores[i])) for i in order]
        live = len(self.ids)
        if self._full is None or self._full.data.shape[1] != len(unit):
            return []
        if self._projected is None:
            rows = np.arange(live)
            scores = self._full.data[:live] @ unit
        else:
            rows = _top(self._projected.data[:live] @ (unit @ self._projection), CANDIDATES)
            scores = self._full.data[rows].astype(np.float32) @ unit
        order = _top(scores, count)
        return [(self.ids[int(rows[i])], float(scores[i])) for i in order]


def _top(scores: Any, count: int) -> Any:
    """Indices of the `count` highest scores, highest first."""
    if len(scores) > count:
        picked = np.argpartition(-scores, count)[:count]
        return picked[np.argsort(-scores[picked])]
    return np.argsort(-scores)


def _unit(vector: list[float], fast: bool) -> Any:
    norm = float(np.linalg.norm(vector)) if fast else math.sqrt(sum(x * x for x in vector))
    if not norm or not math.isfinite(norm):
        return None
    if not fast:
        return [x / norm for x in vector]
    return np.asarray(vector, dtype=np.float32) / np.float32(norm)
