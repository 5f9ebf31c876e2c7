"""Budgets that cannot be dodged: streams the client abandons are billed, reservations size images and documents,
and upstreams that report no usage are billed an estimate. Real HTTP, fake upstreams, governance's own ledger."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import aiohttp
import pytest

from gateway import tokens as rules
from gateway.testing import (
    FakeUpstream,
    Reply,
    anthropic_message,
    anthropic_sse,
    anthropic_usage,
    openai_completion,
    openai_sse,
    openai_usage,
    post_once,
)
from tests.conftest import MakeGateway
from tests.http.governance_helpers import (
    CHAT,
    CLAUDE,
    GPT,
    MESSAGES,
    UP_CHAT,
    UP_MESSAGES,
    VK_A,
    bearer,
    budget,
    config,
    settled,
    used,
    vk,
)

BUDGET = "budget:vk:vk-a:0"
PROMPT = "word " * 200  # ~200 tokens, 1,000 bytes
PIECES = tuple(f"tok{i} " for i in range(40))  # what the upstream streams: 40 deltas of a few tokens
PRICE_IN, PRICE_OUT = 1e-6, 2e-6  # USD per token (governance_helpers.PRICING)


def governed(url: str, limit: float) -> dict[str, Any]:
    return config(url, vk("vk-a", VK_A, budgets=[budget(limit)]))


def stream_body(dialect: str, model: str, max_tokens: int = 400) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "stream": True}
    body["messages"] = [{"role": "user", "content": PROMPT}]
    if dialect == "openai":
        body["stream_options"] = {"include_usage": True}
    return body


async def abandoned_stream(session: aiohttp.ClientSession, url: str, dialect: str, model: str) -> int:
    """Read a stream up to its last text delta, then leave without reading the end; the HTTP status."""
    path, marker = (CHAT, b'"content":"tok') if dialect == "openai" else (MESSAGES, b'"text_delta"')
    async with session.post(url + path, json=stream_body(dialect, model), headers=bearer(VK_A)) as resp:
        if resp.status != 200:
            await resp.read()
            return resp.status
        received = b""
        async for data in resp.content.iter_any():
            received += data
            if received.count(marker) >= len(PIECES):
                break
        assert received.count(marker) == len(PIECES), received[-300:]
        resp.close()  # the client leaves: no usage frame, no message_delta, no [DONE]
        return 200


def script_streams(fake: FakeUpstream, upstream: str) -> None:
    """Streams that stall after their last text delta, before the usage (what the upstream would bill: 200 in,
    80 out)."""
    if upstream == "openai":
        frames = openai_sse(PIECES, usage=openai_usage(200, 80))
        fake.default(UP_CHAT, Reply.sse(frames, hang_after=1 + len(PIECES)))
    else:
        frames = anthropic_sse(PIECES, usage=anthropic_usage(200, 80))
        # message_start, content_block_start, ping, the deltas; then content_block_stop, message_delta, ...
        fake.default(UP_MESSAGES, Reply.sse(frames, hang_after=3 + len(PIECES)))


CASES = [  # client dialect, upstream, model: relays read only usage; a translated stream decodes every event
    ("openai", "openai", GPT),
    ("anthropic", "anthropic", CLAUDE),
    ("anthropic", "openai", GPT),
    ("openai", "anthropic", CLAUDE),
]


@pytest.mark.parametrize(("dialect", "upstream", "model"), CASES)
async def test_an_abandoned_stream_is_billed_its_prompt_and_what_it_streamed(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, dialect: str, upstream: str, model: str
) -> None:
    script_streams(fake_upstream, upstream)
    gw = await make_gateway(governed(fake_upstream.url, 100.0))
    async with aiohttp.ClientSession() as session:
        for _ in range(30):
            assert await abandoned_stream(session, gw.url, dialect, model) == 200
    await fake_upstream.wait_disconnects(30)
    await settled(gw)
    per_stream = used(gw, BUDGET) / 30
    # Input: Anthropic reports it at the start (200); for OpenAI the gateway counts the prompt (~200 o200k tokens).
    # Output: the 40 streamed pieces, counted (between one token a piece and one a character).
    low = 150 * PRICE_IN + len(PIECES) * PRICE_OUT
    high = 300 * PRICE_IN + sum(map(len, PIECES)) * PRICE_OUT
    assert low <= per_stream <= high, (per_stream, low, high)


@pytest.mark.parametrize(("dialect", "upstream", "model"), CASES[:2])
async def test_abandoned_streams_under_200_concurrent_calls_cannot_outspend_the_budget(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, dialect: str, upstream: str, model: str
) -> None:
    """Rounds of 200 concurrent abandoned streams against $0.02, until the budget refuses every call."""
    limit = 0.02
    script_streams(fake_upstream, upstream)
    gw = await make_gateway(governed(fake_upstream.url, limit))
    admitted = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        for _ in range(40):  # each round admits what the budget still holds reservations for
            statuses = await asyncio.gather(*(abandoned_stream(session, gw.url, dialect, model) for _ in range(200)))
            assert set(statuses) <= {200, 402}, statuses
            admitted += statuses.count(200)
            await settled(gw, timeout=10)
            if 200 not in statuses:
                break
        else:
            pytest.fail(f"the budget never ran out: {admitted} streams, ${used(gw, BUDGET):.6f} used")
    spent = used(gw, BUDGET)
    reservation = 300 * PRICE_IN + 400 * PRICE_OUT  # the most a call holds (counted prompt + max_tokens)
    assert limit - reservation <= spent <= limit + 1e-9, (spent, admitted)
    assert admitted <= limit / (150 * PRICE_IN + len(PIECES) * PRICE_OUT) + 1


def image_body(dialect: str, model: str, images: int) -> dict[str, Any]:
    """A short prompt with `images` image URLs: a few bytes each, ~1,600 tokens each to the upstream."""
    if dialect == "openai":
        parts: list[dict[str, Any]] = [{"type": "text", "text": "Compare these."}]
        parts += [{"type": "image_url", "image_url": {"url": f"https://img.example/{i}.png"}} for i in range(images)]
        return {"model": model, "max_tokens": 50, "messages": [{"role": "user", "content": parts}]}
    blocks: list[dict[str, Any]] = [{"type": "text", "text": "Compare these."}]
    blocks += [
        {"type": "image", "source": {"type": "url", "url": f"https://img.example/{i}.png"}} for i in range(images)
    ]
    return {"model": model, "max_tokens": 50, "messages": [{"role": "user", "content": blocks}]}


IMAGE_CASES = [("anthropic", CLAUDE, 1600, rules.CLAUDE), ("openai", GPT, 1445, rules.OPENAI)]


@pytest.mark.parametrize(("dialect", "model", "tokens_per_image", "reserved"), IMAGE_CASES)
async def test_image_calls_under_200_concurrent_calls_stay_within_the_budget(
    make_gateway: MakeGateway,
    fake_upstream: FakeUpstream,
    dialect: str,
    model: str,
    tokens_per_image: int,
    reserved: rules.MediaRules,
) -> None:
    """Each call carries 4 image URLs the upstream bills at its own per-image rate (1,445: gpt-4o at its largest);
    200 at once, until refused. Before images were sized, this overspent the budget 8.8 times."""
    billed_input = 4 * tokens_per_image + 10
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("ok", usage=anthropic_usage(billed_input, 5))))
    fake_upstream.default(UP_CHAT, Reply.json(openai_completion("ok", usage=openai_usage(billed_input, 5))))
    limit = 0.2
    gw = await make_gateway(governed(fake_upstream.url, limit))
    path = CHAT if dialect == "openai" else MESSAGES
    body = image_body(dialect, model, 4)
    async with gw.http(None) as http:  # the kit's client: no connection limit

        async def call() -> int:
            return (await http.post(path, body, bearer(VK_A))).status

        for _ in range(20):
            statuses = await asyncio.gather(*(call() for _ in range(200)))
            assert set(statuses) <= {200, 402}, statuses
            await settled(gw, timeout=10)
            if 200 not in statuses:
                break
    spent = used(gw, BUDGET)
    reservation = (4 * reserved.image_tokens + 200) * PRICE_IN + 50 * PRICE_OUT  # images at the rule, text, cap
    assert limit - reservation <= spent <= limit + 1e-9, spent


async def test_a_base64_pdf_reserves_by_its_pages(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    """A 30-page PDF reserves 30 pages' worth (Claude: 4,600 a page): a budget that cannot hold that refuses it."""
    pdf = b"%PDF-1.4\n" + b"".join(b"%d 0 obj << /Type /Page /Parent 1 0 R >> endobj\n" % i for i in range(30))
    document = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf"}}
    document["source"]["data"] = base64.b64encode(pdf).decode()  # type: ignore[index]
    messages = [{"role": "user", "content": [document, {"type": "text", "text": "Summarise."}]}]
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("ok")))
    gw = await make_gateway(governed(fake_upstream.url, 30 * 4600 * PRICE_IN * 0.9))
    body = {"model": CLAUDE, "max_tokens": 10, "messages": messages}
    answer = await post_once(gw.url + MESSAGES, body, bearer(VK_A), key=None)
    assert answer.status == 402, answer
    assert fake_upstream.requests_to(UP_MESSAGES) == []


@pytest.mark.parametrize("stream", [False, True])
async def test_an_upstream_that_reports_no_usage_is_billed_an_estimate(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, stream: bool
) -> None:
    """Some OpenAI-compatible servers send no usage (or ignore stream_options): the call is not free."""
    completion = openai_completion("a fine answer of several words")
    del completion["usage"]
    reply = Reply.sse(openai_sse(PIECES, include_usage=False)) if stream else Reply.json(completion)
    fake_upstream.script(UP_CHAT, reply)
    gw = await make_gateway(governed(fake_upstream.url, 100.0))
    body = {"model": GPT, "max_tokens": 400, "messages": [{"role": "user", "content": PROMPT}], "stream": stream}
    assert (await post_once(gw.url + CHAT, body, bearer(VK_A), key=None)).status == 200
    await settled(gw)
    assert used(gw, BUDGET) >= 150 * PRICE_IN + 5 * PRICE_OUT
