"""The PII guardrail, installed from its own package and loaded by its entry point, tested with gateway.testing."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from gateway.api import ConfigError
from gateway.testing import (
    FakeUpstream,
    MakeGateway,
    Reply,
    anthropic_message,
    anthropic_sse,
    openai_completion,
    upstream_config,
)

EMAIL, CARD = "jane.doe@example.com", "4111 1111 1111 1111"


def guarded(url: str, **config: Any) -> dict[str, Any]:
    options = {"enabled": True, "builtin": ["email", "credit_card"]} | config
    return upstream_config(url) | {"plugins": [{"name": "pii_redaction", "config": options}]}


async def test_requests_are_redacted_before_they_go_upstream(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default("/v1/messages", Reply.json(anthropic_message("noted")))
    fake_upstream.default("/v1/chat/completions", Reply.json(openai_completion("noted")))
    gw = await make_gateway(guarded(fake_upstream.url))
    text = f"Write to {EMAIL} about card {CARD}."
    async with gw.anthropic() as claude, gw.openai() as gpt:
        await claude.messages.create(
            model="claude-x", max_tokens=9, system=f"cc {EMAIL}", messages=[{"role": "user", "content": text}]
        )
        await gpt.chat.completions.create(model="openai/gpt-x", messages=[{"role": "user", "content": text}])
    anthropic_sent, openai_sent = fake_upstream.requests
    assert anthropic_sent.json["messages"][0]["content"] == "Write to [EMAIL] about card [CREDIT_CARD]."
    assert anthropic_sent.json["system"] == "cc [EMAIL]"
    assert openai_sent.json["messages"][0]["content"] == "Write to [EMAIL] about card [CREDIT_CARD]."
    assert EMAIL not in str(fake_upstream.requests)


async def test_a_request_without_personal_data_is_relayed_byte_exact(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default("/v1/messages", Reply.json(anthropic_message("ok")))
    gw = await make_gateway(guarded(fake_upstream.url))
    body = b'{"model": "claude-x", "max_tokens": 9, "messages": [{"role": "user", "content": "hello"}], "x": 1}'
    async with gw.http() as http:
        assert (await http.post("/anthropic/v1/messages", body)).status == 200
    assert fake_upstream.requests[0].body == body  # nothing matched: no re-encoding


async def test_a_block_rule_refuses_the_call_in_the_clients_dialect(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    gw = await make_gateway(guarded(fake_upstream.url, block=["credit_card"]))
    async with gw.anthropic() as claude, gw.openai() as gpt:
        with pytest.raises(anthropic.PermissionDeniedError, match="credit_card"):
            await claude.messages.create(model="claude-x", max_tokens=9, messages=[{"role": "user", "content": CARD}])
        with pytest.raises(openai.PermissionDeniedError, match="credit_card"):
            await gpt.chat.completions.create(model="openai/gpt-x", messages=[{"role": "user", "content": CARD}])
    assert fake_upstream.requests == []


async def test_answers_are_redacted(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.default("/v1/messages", Reply.json(anthropic_message(f"Her address is {EMAIL}.")))
    gw = await make_gateway(guarded(fake_upstream.url))
    async with gw.anthropic() as claude:
        message = await claude.messages.create(
            model="claude-x", max_tokens=9, messages=[{"role": "user", "content": "?"}]
        )
    assert message.content[0].text == "Her address is [EMAIL]."  # type: ignore[union-attr]


@pytest.mark.parametrize("pieces", [("Mail jane.d", "oe@exam", "ple.com today"), tuple("Mail jane.doe@example.com!")])
async def test_a_stream_is_redacted_even_where_a_match_is_cut_between_chunks(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, pieces: tuple[str, ...]
) -> None:
    fake_upstream.default("/v1/messages", Reply.sse(anthropic_sse(pieces)))
    gw = await make_gateway(guarded(fake_upstream.url))
    async with gw.anthropic() as claude:
        async with claude.messages.stream(
            model="claude-x", max_tokens=9, messages=[{"role": "user", "content": "?"}]
        ) as stream:
            text = "".join([piece async for piece in stream.text_stream])
            final = await stream.get_final_message()
    assert text == "".join(pieces).replace(EMAIL, "[EMAIL]")
    assert final.stop_reason == "end_turn"


async def test_a_rule_that_does_not_compile_is_a_config_error_with_its_path(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    with pytest.raises(ConfigError) as caught:
        await make_gateway(guarded(fake_upstream.url, rules=[{"name": "broken", "pattern": "(unclosed"}]))
    assert caught.value.errors[0].startswith("$.plugins[0].config: rule 'broken':"), caught.value.errors
