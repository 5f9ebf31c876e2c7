"""Which reasoning-effort words an OpenAI model takes, and the nearest one it takes for a word it does not.

OpenAI's families take different sets (o-series: low..high; gpt-5: minimal..high; gpt-5.1: none..high; from
gpt-5.2: none..xhigh), no model takes Anthropic's `max`, and a word outside the set is a 400. The catalog has no
field for this (only whether a model reasons), so the sets are here, by family, newest rule first.
"""

from __future__ import annotations

import re

# Weakest to strongest: "nearest" is measured along this scale.
SCALE = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
O_SERIES = frozenset({"low", "medium", "high"})
_FAMILIES: tuple[tuple[re.Pattern[str], frozenset[str]], ...] = (
    (re.compile(r"^gpt-5\.(\d+)"), frozenset()),  # decided by the minor version below
    (re.compile(r"^gpt-5(?![.\d])"), frozenset({"minimal", "low", "medium", "high"})),
    (re.compile(r"^o\d"), O_SERIES),
)
GPT_5_1 = frozenset({"none", "low", "medium", "high"})
GPT_5_2_ON = frozenset({"none", "low", "medium", "high", "xhigh"})


def openai_efforts(model: str) -> frozenset[str]:
    """The words `model` takes (an OpenAI model id as the catalog names it); low..high when its family is new."""
    for pattern, words in _FAMILIES:
        match = pattern.match(model)
        if match is None:
            continue
        if not words:  # gpt-5.N
            return GPT_5_1 if int(match.group(1)) == 1 else GPT_5_2_ON
        return words
    return O_SERIES


def nearest(word: str, allowed: frozenset[str]) -> str:
    """The allowed word closest to `word` on the scale (ties go to the weaker one: cheaper, and never refused
    for being over a budget). An unknown word is taken as `medium`, every model's default."""
    at = SCALE.index(word) if word in SCALE else SCALE.index("medium")
    return min(allowed, key=lambda w: (abs(SCALE.index(w) - at), SCALE.index(w)))
