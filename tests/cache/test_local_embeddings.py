"""Semantic mode with no provider: the local model bundled in the `wordllama` wheel, loaded with no network."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from gateway.testing import FakeUpstream, Reply, anthropic_message, openai_completion
from tests.conftest import MakeGateway

from .helpers import KEY, UP_CHAT, UP_EMBEDDINGS, UP_MESSAGES, ask_claude, cache_config, stored

LOCAL = {"embedding_model": "local"}

# Run in a fresh interpreter whose sockets refuse to connect and whose HOME is empty: if loading the model tried
# the network or a download cache, it would fail here.
OFFLINE_LOAD = textwrap.dedent(
    """
    import socket

    def refuse(*args, **kwargs):
        raise OSError("this test allows no network")

    socket.socket.connect = refuse
    socket.create_connection = refuse
    from gateway_plugins.semantic_cache.embedders import load_local

    for dimension in (64, 128, 256):
        print(load_local(dimension).embed(["capital of France"]).shape[1])
    """
)


def test_the_local_model_loads_with_no_network(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", OFFLINE_LOAD], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["64", "128", "256"]
    assert not any(tmp_path.iterdir())  # nothing downloaded or cached under HOME


async def test_a_reworded_question_hits_with_no_embeddings_endpoint(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(UP_MESSAGES, Reply.json(anthropic_message("Paris")))
    fake_upstream.script(UP_MESSAGES, Reply.json(anthropic_message("Knead, rise, bake.")))
    gw = await make_gateway(cache_config(fake_upstream.url, **LOCAL))
    async with gw.http() as http:
        await ask_claude(http, "What is the capital of France?")
        await stored(gw, 1)
        near = await ask_claude(http, "Tell me the capital city of France")
        other = await ask_claude(http, "How do I bake bread at home?")
    assert near.headers["x-bf-cache-hit"] == "semantic"
    assert 0.8 <= float(near.headers["x-bf-cache-similarity"]) < 1.0
    assert near.json()["content"][0]["text"] == "Paris"
    assert "x-bf-cache-hit" not in other.headers
    assert other.json()["content"][0]["text"] == "Knead, rise, bake."
    assert len(fake_upstream.requests_to(UP_MESSAGES)) == 2
    assert fake_upstream.requests_to(UP_EMBEDDINGS) == []  # no provider is asked to embed anything


async def test_a_near_question_about_another_thing_misses(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    """Same words, another country: a static model still tells these apart at the default threshold."""
    fake_upstream.script(UP_CHAT, Reply.json(openai_completion("Paris")))
    fake_upstream.script(UP_CHAT, Reply.json(openai_completion("Berlin")))
    gw = await make_gateway(cache_config(fake_upstream.url, **LOCAL, dimension=128))
    client = gw.openai(default_headers=KEY)
    first = await client.chat.completions.create(
        model="openai/gpt-x", messages=[{"role": "user", "content": "What is the capital of France?"}]
    )
    await stored(gw, 1)
    raw = await client.chat.completions.with_raw_response.create(
        model="openai/gpt-x", messages=[{"role": "user", "content": "What is the capital of Germany?"}]
    )
    assert first.choices[0].message.content == "Paris"
    assert raw.parse().choices[0].message.content == "Berlin"
    assert "x-bf-cache-hit" not in raw.headers


async def test_a_text_past_the_cap_is_not_looked_up(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    """Embedding only a prefix of a long prompt would make prompts that differ after it look the same."""
    long = "word " * 8_000  # 40,000 characters, past MAX_LOCAL_CHARS
    for _ in range(2):
        fake_upstream.script(UP_MESSAGES, Reply.json(anthropic_message("ok")))
    gw = await make_gateway(cache_config(fake_upstream.url, **LOCAL))
    async with gw.http() as http:
        await ask_claude(http, long + "first")
        await stored(gw, 1)
        second = await ask_claude(http, long + "second")
    assert "x-bf-cache-hit" not in second.headers
    assert len(fake_upstream.requests_to(UP_MESSAGES)) == 2
