"""Async jobs through the official SDKs: `x-bf-async` and `x-bf-async-id` sent as `extra_headers`.

Each case submits, polls while the job waits on a slow upstream (the SDK must parse the empty shape), polls
until done, and compares the completed answer with a synchronous call answered by the same scripted reply.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import anthropic
import openai
import pytest
from anthropic.types import Message, MessageParam
from openai.types.chat import ChatCompletionMessageParam

from gateway.testing import FakeUpstream, Reply, anthropic_message, openai_completion
from tests.conftest import CLIENT_KEY, Gateway, MakeGateway, upstream_config
from tests.http.async_helpers import POLL, STATUS, SUBMIT, TERMINAL, UP_CHAT, UP_MESSAGES, poll_until, without

SLOW_S = 0.4  # the upstream's delay: long enough that the first poll sees the job unfinished
ANTHROPIC_REPLY = anthropic_message("Answer from Claude", id="msg_async01")
OPENAI_REPLY = openai_completion("Answer from GPT", id="chatcmpl-async01")
PROMPT: list[MessageParam] = [{"role": "user", "content": "What is 2 + 2?"}]
CHAT_PROMPT: list[ChatCompletionMessageParam] = [{"role": "user", "content": "What is 2 + 2?"}]


def _script(fake: FakeUpstream, upstream: str, delay: float) -> None:
    """The same reply twice: once for the synchronous call, once for the job."""
    if upstream == "anthropic":
        fake.script(UP_MESSAGES, Reply.json(ANTHROPIC_REPLY), Reply.json(ANTHROPIC_REPLY, delay=delay))
    elif upstream == "openai":
        fake.script(UP_CHAT, Reply.json(OPENAI_REPLY), Reply.json(OPENAI_REPLY, delay=delay))


def _upstream_calls(fake: FakeUpstream) -> int:
    return len(fake.requests)


def _assert_job_id(job_id: str) -> None:
    assert uuid.UUID(job_id).version == 4, job_id


# --- Anthropic SDK ----------------------------------------------------------------------------------------

ANTHROPIC_CASES = [
    # (base path of the SDK client, model, which upstream answers, exact bytes expected)
    pytest.param("/anthropic", "claude-x", "anthropic", id="anthropic-route-to-anthropic"),
    pytest.param("/anthropic", "openai/gpt-x", "openai", id="anthropic-route-to-openai"),
    pytest.param("/anthropic", "mock/mock-claude", "mock", id="anthropic-route-to-mock"),
    pytest.param("", "claude-x", "anthropic", id="bare-v1-messages-to-anthropic"),
]


@pytest.mark.parametrize(("base", "model", "upstream"), ANTHROPIC_CASES)
async def test_anthropic_sdk_submit_then_poll_gives_the_sync_message(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, base: str, model: str, upstream: str
) -> None:
    gw: Gateway = await make_gateway(upstream_config(fake_upstream.url))
    delay = SLOW_S if upstream != "mock" else 0.0
    _script(fake_upstream, upstream, delay)
    async with anthropic.AsyncAnthropic(
        base_url=gw.url + base, api_key=CLIENT_KEY, max_retries=0, _strict_response_validation=True
    ) as client:
        sync = await client.messages.with_raw_response.create(model=model, max_tokens=64, messages=PROMPT)
        sync_bytes = await sync.read()
        assert sync.status_code == 200, sync_bytes

        submitted = await client.messages.with_raw_response.create(
            model=model, max_tokens=64, messages=PROMPT, extra_headers=SUBMIT
        )
        pending = await submitted.parse()
        assert isinstance(pending, anthropic.types.Message)
        assert pending.content == [] and pending.stop_reason is None
        assert submitted.headers[POLL] == pending.id
        assert submitted.headers[STATUS] == "pending"
        _assert_job_id(pending.id)

        async def poll() -> anthropic.AsyncAPIResponse[Message]:
            return await client.messages.with_raw_response.create(
                model=model, max_tokens=64, messages=PROMPT, extra_headers={POLL: pending.id}
            )

        first = await poll()
        if delay:  # the upstream is still thinking: the same empty shape, parsed by the SDK
            assert first.headers[STATUS] in ("pending", "running")
            unfinished = await first.parse()
            assert unfinished.id == pending.id and unfinished.content == [] and unfinished.stop_reason is None
        done = await poll_until(poll, lambda r: r.headers[STATUS] in TERMINAL)
        assert done.headers[STATUS] == "completed"
        assert done.headers[POLL] == pending.id
        assert done.status_code == 200
        assert await done.read() == sync_bytes  # exactly what the synchronous call returned
        message = await done.parse()
        assert message.content and message.stop_reason == "end_turn"
        assert message.content[0].text  # type: ignore[union-attr]

        # The plain (non-raw) SDK call works too, for both submit and poll.
        calls = _upstream_calls(fake_upstream)
        again = await client.messages.create(
            model=model, max_tokens=64, messages=PROMPT, extra_headers={POLL: pending.id}
        )
        assert again == message
    assert _upstream_calls(fake_upstream) == calls  # polling never runs the request again
    if upstream != "mock":
        assert calls == 2  # one synchronous call, one job


async def test_anthropic_sdk_plain_create_returns_empty_message(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(UP_MESSAGES, Reply.json(ANTHROPIC_REPLY))
    async with gateway.anthropic() as client:
        pending = await client.messages.create(model="claude-x", max_tokens=64, messages=PROMPT, extra_headers=SUBMIT)
        assert pending.content == [] and pending.stop_reason is None and pending.type == "message"
        _assert_job_id(pending.id)
        done = await poll_until(
            lambda: client.messages.create(
                model="claude-x", max_tokens=64, messages=PROMPT, extra_headers={POLL: pending.id}
            ),
            lambda m: bool(m.content),
        )
    assert done.id == "msg_async01"
    assert done.content[0].text == "Answer from Claude"  # type: ignore[union-attr]


# --- OpenAI SDK ---------------------------------------------------------------------------------------------

OPENAI_CASES = [
    # (base path of the SDK client, model, which upstream answers, exact bytes expected)
    pytest.param("/v1", "openai/gpt-x", "openai", True, id="v1-to-openai"),
    pytest.param("/v1", "anthropic/claude-x", "anthropic", False, id="v1-to-anthropic"),
    pytest.param("/v1", "mock/mock-gpt", "mock", False, id="v1-to-mock"),
    pytest.param("/openai/v1", "gpt-x", "openai", True, id="openai-v1-to-openai"),
    pytest.param("/openai/v1", "anthropic/claude-x", "anthropic", False, id="openai-v1-to-anthropic"),
]


@pytest.mark.parametrize(("base", "model", "upstream", "exact"), OPENAI_CASES)
async def test_openai_sdk_submit_then_poll_gives_the_sync_completion(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, base: str, model: str, upstream: str, exact: bool
) -> None:
    gw = await make_gateway(upstream_config(fake_upstream.url))
    delay = SLOW_S if upstream != "mock" else 0.0
    _script(fake_upstream, upstream, delay)
    async with openai.AsyncOpenAI(base_url=gw.url + base, api_key=CLIENT_KEY, max_retries=0) as client:
        sync = await client.chat.completions.with_raw_response.create(model=model, messages=CHAT_PROMPT)
        assert sync.status_code == 200, sync.content

        submitted = await client.chat.completions.with_raw_response.create(
            model=model,
            messages=CHAT_PROMPT,
            extra_headers=SUBMIT,
        )
        pending = submitted.parse()
        assert isinstance(pending, openai.types.chat.ChatCompletion)
        assert pending.choices == [] and pending.object == "chat.completion"
        assert submitted.headers[POLL] == pending.id
        assert submitted.headers[STATUS] == "pending"
        _assert_job_id(pending.id)

        async def poll() -> Any:
            return await client.chat.completions.with_raw_response.create(
                model=model,
                messages=CHAT_PROMPT,
                extra_headers={POLL: pending.id},
            )

        first = await poll()
        if delay:
            assert first.headers[STATUS] in ("pending", "running")
            unfinished = first.parse()
            assert unfinished.id == pending.id and unfinished.choices == []
        done = await poll_until(poll, lambda r: r.headers[STATUS] in TERMINAL)
        assert done.headers[STATUS] == "completed" and done.status_code == 200
        assert done.headers[POLL] == pending.id
        if exact:  # a relayed OpenAI body: byte for byte
            assert done.content == sync.content
        else:  # encoded by the gateway: `created` is the time of encoding, everything else is identical
            done_json, sync_json = json.loads(done.content), json.loads(sync.content)
            assert without(done_json, "created") == without(sync_json, "created")
            assert abs(done_json["created"] - sync_json["created"]) <= 2
        completion = done.parse()
        assert completion.choices[0].message.content
        assert completion.choices[0].finish_reason == "stop"

        calls = _upstream_calls(fake_upstream)
        again = await client.chat.completions.create(
            model=model,
            messages=CHAT_PROMPT,
            extra_headers={POLL: pending.id},
        )
        assert again == completion
    assert _upstream_calls(fake_upstream) == calls
    if upstream != "mock":
        assert calls == 2


async def test_openai_sdk_plain_create_returns_empty_completion(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(UP_CHAT, Reply.json(OPENAI_REPLY))
    async with gateway.openai() as client:
        pending = await client.chat.completions.create(
            model="openai/gpt-x",
            messages=CHAT_PROMPT,
            extra_headers=SUBMIT,
        )
        assert pending.choices == []
        _assert_job_id(pending.id)
        done = await poll_until(
            lambda: client.chat.completions.create(
                model="openai/gpt-x",
                messages=CHAT_PROMPT,
                extra_headers={POLL: pending.id},
            ),
            lambda c: bool(c.choices),
        )
    assert done.id == "chatcmpl-async01"
    assert done.choices[0].message.content == "Answer from GPT"


async def test_sdk_failed_job_raises_the_upstream_error_on_poll(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    error = Reply.error(400, "invalid_request_error", "max_tokens is too large", dialect="anthropic")
    fake_upstream.script(UP_MESSAGES, error)
    async with gateway.anthropic() as client:
        pending = await client.messages.create(model="claude-x", max_tokens=64, messages=PROMPT, extra_headers=SUBMIT)

        async def poll() -> Message | anthropic.APIStatusError:
            try:
                return await client.messages.create(
                    model="claude-x", max_tokens=64, messages=PROMPT, extra_headers={POLL: pending.id}
                )
            except anthropic.APIStatusError as exc:
                return exc

        failed = await poll_until(poll, lambda r: isinstance(r, anthropic.APIStatusError))
    assert isinstance(failed, anthropic.BadRequestError)
    assert failed.status_code == 400
    assert failed.response.headers[STATUS] == "failed"
    assert failed.body["error"] == {"type": "invalid_request_error", "message": "max_tokens is too large"}  # type: ignore[index]
