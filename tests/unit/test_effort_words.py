"""Reasoning-effort words per OpenAI model family, and the nearest word a model takes."""

from __future__ import annotations

import pytest

from gateway_plugins.adaptation.effort import SCALE, nearest, openai_efforts


@pytest.mark.parametrize(
    ("model", "words"),
    [
        ("o3", {"low", "medium", "high"}),
        ("o4-mini", {"low", "medium", "high"}),
        ("gpt-5", {"minimal", "low", "medium", "high"}),
        ("gpt-5-mini", {"minimal", "low", "medium", "high"}),
        ("gpt-5-codex", {"minimal", "low", "medium", "high"}),
        ("gpt-5.1", {"none", "low", "medium", "high"}),
        ("gpt-5.1-codex-max", {"none", "low", "medium", "high"}),
        ("gpt-5.2", {"none", "low", "medium", "high", "xhigh"}),
        ("gpt-5.5-pro", {"none", "low", "medium", "high", "xhigh"}),
        ("some-new-reasoner", {"low", "medium", "high"}),
    ],
)
def test_families(model: str, words: set[str]) -> None:
    assert openai_efforts(model) == words


def test_nearest_prefers_the_weaker_of_two_and_never_leaves_the_set() -> None:
    o_series = openai_efforts("o3")
    assert nearest("max", o_series) == "high"
    assert nearest("none", o_series) == "low"
    assert nearest("minimal", openai_efforts("gpt-5.1")) == "none"  # none and low are as near: the weaker
    assert nearest("bogus", o_series) == "medium"
    for word in SCALE:
        for model in ("o3", "gpt-5", "gpt-5.1", "gpt-5.2"):
            assert nearest(word, openai_efforts(model)) in openai_efforts(model)
