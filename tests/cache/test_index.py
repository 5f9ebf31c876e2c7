"""The semantic index on its own: nearest first, removal (which moves rows), the entry cap, expiry, and vectors
of another dimension."""

from __future__ import annotations

import time

from gateway_plugins.semantic_cache.index import Index

LATER = time.time() + 3600


def axis(i: int, dim: int = 4) -> list[float]:
    return [1.0 if j == i else 0.0 for j in range(dim)]


def test_nearest_first_and_removal_keeps_the_others_right() -> None:
    index = Index(max_entries=10)
    for i in range(4):
        index.add("g", f"id{i}", axis(i), LATER)
    index.add("g", "near0", [1.0, 0.5, 0.0, 0.0], LATER)
    assert [i for i, _ in index.search("g", axis(0), 0.5)] == ["id0", "near0"]
    index.remove("id0")  # the last row moves into its place
    assert index.search("g", axis(0), 0.5)[0][0] == "near0"
    assert [i for i, _ in index.search("g", axis(3), 0.9)] == ["id3"]
    assert index.search("other", axis(3), 0.0) == []


def test_cap_drops_the_oldest_and_expired_entries_do_not_match() -> None:
    index = Index(max_entries=2)
    index.add("g", "old", axis(0), LATER)
    index.add("g", "mid", axis(1), LATER)
    index.add("g", "new", axis(2), LATER)
    assert len(index) == 2
    assert index.search("g", axis(0), 0.5) == []
    index.add("g", "gone", axis(3), time.time() - 1)
    assert index.search("g", axis(3), 0.5) == []


def test_another_dimension_is_not_indexed_and_zero_vectors_are_ignored() -> None:
    index = Index(max_entries=10)
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
    vectors = rng.standard_normal((3000, 1536), dtype=np.float32)
    for i, vector in enumerate(vectors):
        index.add("g", f"id{i}", vector.tolist(), LATER)
    index.remove("id5")  # rows move: the search must still name the right ids
    for target in (7, 1234, 2999):
        query = vectors[target] + 0.5 * rng.standard_normal(1536, dtype=np.float32)
        exact = float(query @ vectors[target] / (np.linalg.norm(query) * np.linalg.norm(vectors[target])))
        found = index.search("g", query.tolist(), 0.5)
        assert found[0][0] == f"id{target}"
        assert abs(found[0][1] - exact) < 2e-3
    assert index.search("g", vectors[5].tolist(), 0.5) == []
