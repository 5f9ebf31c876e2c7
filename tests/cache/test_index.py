"""The semantic index on its own: nearest first, removal (which moves rows), the entry cap, expiry, and vectors
of another dimension."""

from __future__ import annotations

import time

import pytest

from gateway_plugins.semantic_cache.index import Index

LATER = time.time() + 3600


def axis(i: int, dim: int = 4) -> list[float]:
    return [1.0 if j == i else 0.0 for j in range(dim)]


BOTH = pytest.mark.parametrize("fast", [True, False], ids=["numpy", "pure-python"])


@BOTH
def test_nearest_first_and_removal_keeps_the_others_right(fast: bool) -> None:
    index = Index(max_entries=10, fast=fast)
    for i in range(4):
        index.add("g", f"id{i}", axis(i), LATER)
    index.add("g", "near0", [1.0, 0.5, 0.0, 0.0], LATER)
    assert [i for i, _ in index.search("g", axis(0), 0.5)] == ["id0", "near0"]
    index.remove("id0")  # the last row moves into its place
    assert index.search("g", axis(0), 0.5)[0][0] == "near0"
    assert [i for i, _ in index.search("g", axis(3), 0.9)] == ["id3"]
    assert index.search("other", axis(3), 0.0) == []


@BOTH
def test_cap_drops_the_oldest_and_expired_entries_do_not_match(fast: bool) -> None:
    index = Index(max_entries=2, fast=fast)
    index.add("g", "old", axis(0), LATER)
    index.add("g", "mid", axis(1), LATER)
    index.add("g", "new", axis(2), LATER)
    assert len(index) == 2
    assert index.search("g", axis(0), 0.5) == []
    index.add("g", "gone", axis(3), time.time() - 1)
    assert index.search("g", axis(3), 0.5) == []


@BOTH
def test_another_dimension_is_not_indexed_and_zero_vectors_are_ignored(fast: bool) -> None:
    index = Index(max_entries=10, fast=fast)
    index.add("g", "four", axis(0), LATER)
    index.add("g", "eight", axis(0, 8), LATER)
    index.add("g", "zero", [0.0] * 4, LATER)
    assert len(index) == 1
    assert index.search("g", axis(0, 8), 0.0) == []
    index.remove_prefix("fo")
    assert len(index) == 0


def test_large_vectors_two_stage_search_finds_the_nearest_with_its_exact_similarity() -> None:
    import numpy as np

    rng = np.random.default_rng(1)
    index = Index(max_entries=5000)
    # A shared direction makes every pair about 0.5 similar, as real embeddings are: the projected first stage
    # must still put the nearest among its candidates.
    common = rng.standard_normal(1536, dtype=np.float32)
    vectors = rng.standard_normal((4000, 1536), dtype=np.float32) + common
    for i, vector in enumerate(vectors):
        index.add("g", f"id{i}", vector.tolist(), LATER)
    index.remove("id5")  # rows move: the search must still name the right ids
    for target in (7, 1234, 2999, 3500):
        query = vectors[target] + 0.5 * rng.standard_normal(1536, dtype=np.float32)
        exact = float(query @ vectors[target] / (np.linalg.norm(query) * np.linalg.norm(vectors[target])))
        found = index.search("g", query.tolist(), 0.5)
        assert found[0][0] == f"id{target}"
        assert abs(found[0][1] - exact) < 2e-3
    assert index.search("g", vectors[5].tolist(), 0.9) == []  # the others are about 0.5 similar to it


def test_both_searches_agree_on_the_ranking_and_the_similarities() -> None:
    import numpy as np

    rng = np.random.default_rng(2)
    vectors = rng.standard_normal((300, 64), dtype=np.float32)
    fast, slow = Index(max_entries=1000, fast=True), Index(max_entries=1000, fast=False)
    for i, vector in enumerate(vectors):
        fast.add("g", f"id{i}", vector.tolist(), LATER)
        slow.add("g", f"id{i}", vector.tolist(), LATER)
    for gone in ("id0", "id17", "id299"):
        fast.remove(gone)
        slow.remove(gone)
    for target in (3, 150, 298):
        query = (vectors[target] + 0.3 * rng.standard_normal(64, dtype=np.float32)).tolist()
        a, b = fast.search("g", query, 0.0), slow.search("g", query, 0.0)
        assert [i for i, _ in a] == [i for i, _ in b]
        assert a[0][0] == f"id{target}"
        assert all(abs(x - y) < 1e-4 for (_, x), (_, y) in zip(a, b, strict=True))
