"""The response cache's semantic mode: requests embedded through a provider's `POST /v1/embeddings` (a fake one
here, whose vectors count words, so that rewordings are near and other questions far), hits at the threshold."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import AsyncIterator

import pytest

from gateway.testing import OPENAI_KEY, FakeUpstream, Recorded, Reply, anthropic_message, openai_completion
from tests.conftest import Gateway, MakeGateway

from .helpers import UP_CHAT, UP_EMBEDDINGS, UP_MESSAGES, ask_claude, ask_gpt, cache_config, stored

DIMENSION = 16


def word_vector(text: str) -> list[float]:
    """Each word adds 1 to a dimension chosen by its hash: shared words make vectors similar."""
    vector = [0.0] * DIMENSION
    for word in re.findall(r"[a-z]+", text.lower()):
        vector[hashlib.sha256(word.encode()).digest()[0] % DIMENSION] += 1.0
    return vector


def embeddings(recorded: Recorded) -> Reply | None:
    if recorded.path != UP_EMBEDDINGS:
        return None
    data = [{"object": "embedding", "index": 0, "embedding": word_vector(recorded.json["input"])}]
    return Reply.json({"object": "list", "data": data, "model": recorded.json["model"]})


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream(check=embeddings) as fake:
        yield fake


async def semantic_gateway(make_gateway: MakeGateway, fake: FakeUpstream, **config: object) -> Gateway:
    semantic = {"provider": "openai", "embedding_model": "text-embedding-3-small", "dimension": DIMENSION}
    return await make_gateway(cache_config(fake.url, **(semantic | config)))


async def test_a_reworded_question_is_a_semantic_hit(make_gateway: MakeGateway, upstream: FakeUpstream) -> None:
    upstream.script(UP_MESSAGES, Reply.json(anthropic_message("Paris")))
    gw = await semantic_gateway(make_gateway, upstream)
    async with gw.http() as http:
        first = await ask_claude(http, "What is the capital of France?")
        await stored(gw, 1)
        near = await ask_claude(http, "what is the capital of france")
    assert "x-bf-cache-hit" not in first.headers
    assert near.headers["x-bf-cache-hit"] == "semantic"
    assert float(near.headers["x-bf-cache-similarity"]) == pytest.approx(1.0)
    assert near.json()["content"][0]["text"] == "Paris"
    assert len(upstream.requests_to(UP_MESSAGES)) == 1
    sent = upstream.requests_to(UP_EMBEDDINGS)[0]
    assert sent.json == {
        "model": "text-embedding-3-small",
        "input": "user: What is the capital of France?",
        "dimensions": DIMENSION,
    }
    assert sent.headers["Authorization"] == f"Bearer {OPENAI_KEY}"


async def test_direct_is_tried_first(make_gateway: MakeGateway, upstream: FakeUpstream) -> None:
    upstream.script(UP_MESSAGES, Reply.json(anthropic_message("Paris")))
    gw = await semantic_gateway(make_gateway, upstream)
    async with gw.http() as http:
        await ask_claude(http, "capital of France")
        await stored(gw, 1)
        hit = await ask_claude(http, "capital of France")
    assert hit.headers["x-bf-cache-hit"] == "direct"
    assert "x-bf-cache-similarity" not in hit.headers
    assert len(upstream.requests_to(UP_EMBEDDINGS)) == 1  # the first request's only


async def test_threshold_config_and_header(make_gateway: MakeGateway, upstream: FakeUpstream) -> None:
    upstream.default(UP_CHAT, Reply.json(openai_completion("answer")))
    gw = await semantic_gateway(make_gateway, upstream, threshold=0.95)
    async with gw.http() as http:
        await ask_gpt(http, "tell me about the weather in paris today")
        await stored(gw, 1)
        similarity = _cosine(
            "user: tell me about the weather in paris today", "user: tell me about the weather in rome"
        )
        assert 0.5 < similarity < 0.95
        below = await ask_gpt(http, "tell me about the weather in rome", {"x-bf-cache-no-store": "true"})
        lowered = await ask_gpt(http, "tell me about the weather in rome", {"x-bf-cache-threshold": "0.5"})
        direct_only = await ask_gpt(
            http, "tell me about the weather in rome", {"x-bf-cache-threshold": "0.5", "x-bf-cache-type": "direct"}
        )
    assert "x-bf-cache-hit" not in below.headers
    assert lowered.headers["x-bf-cache-hit"] == "semantic"
    assert float(lowered.headers["x-bf-cache-similarity"]) == pytest.approx(similarity, abs=1e-3)
    assert "x-bf-cache-hit" not in direct_only.headers
    assert len(upstream.requests_to(UP_CHAT)) == 3


async def test_another_model_is_another_question(make_gateway: MakeGateway, upstream: FakeUpstream) -> None:
    upstream.default(UP_MESSAGES, Reply.json(anthropic_message("fresh")))
    gw = await semantic_gateway(make_gateway, upstream)
    async with gw.http() as http:
        await ask_claude(http, "what is the capital of france")
        await stored(gw, 1)
        other = await ask_claude(http, "What is the capital of France?", model="claude-y")
    assert "x-bf-cache-hit" not in other.headers


async def test_an_embedding_failure_is_a_miss(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.default(UP_EMBEDDINGS, Reply.error(500, "server_error", "down", dialect="openai"))
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("fresh")))
    gw = await semantic_gateway(make_gateway, fake_upstream)
    async with gw.http() as http:
        first = await ask_claude(http, "capital of France")
        await stored(gw, 1)  # still stored for direct mode
        reworded = await ask_claude(http, "capital of france?")
        same = await ask_claude(http, "capital of France")
    assert first.status == reworded.status == 200
    assert "x-bf-cache-hit" not in reworded.headers
    assert same.headers["x-bf-cache-hit"] == "direct"


def _cosine(a: str, b: str) -> float:
    x, y = word_vector(a), word_vector(b)
    dot = sum(p * q for p, q in zip(x, y, strict=True))
    return dot / (math.sqrt(sum(p * p for p in x)) * math.sqrt(sum(q * q for q in y)))
