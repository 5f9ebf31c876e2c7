"""Bad input is the client's 400 (or the upstream's 502), in the client's dialect, before anything goes upstream:
path traversal and header injection through model names, oversized names, invalid UTF-8, malformed upstream
answers. Each case is sent where it would do harm, and the fake upstream must have received nothing."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest

from gateway import CallContext, ChatCall, RoutePlan, Target, hookimpl
from gateway.testing import (
    HI,
    Answer,
    FakeUpstream,
    Reply,
    assert_anthropic_error,
    assert_openai_error,
    openai_completion,
    post_once,
)
from tests.conftest import MakeGateway, upstream_config
from tests.http.anthropic_helpers import HI as ANTHROPIC_HI

CHAT = "/v1/chat/completions"
MESSAGES = "/anthropic/v1/messages"


def providers_at(url: str) -> dict[str, Any]:
    """Every provider whose upstream URL holds the model name, all at the fake upstream."""
    azure = {"endpoint": url, "deployments": {}, "api_version": "2024-10-21"}
    bedrock = {"region": "us-east-1", "access_key": "AKIDEXAMPLE", "secret_key": "secret-key-example-0123456789"}
    config = upstream_config(url)
    config["providers"] |= {
        "gemini": {"keys": [{"value": "AIza-test"}], "network_config": {"base_url": url}},
        "azure": {"keys": [{"value": "az-key", "azure_key_config": azure}]},
        "bedrock": {"keys": [{"value": "", "bedrock_key_config": bedrock}], "network_config": {"base_url": url}},
    }
    return config


def assert_dialect_error(path: str, answer: Answer, status: int, *contains: str) -> None:
    """An invalid_request_error in the route's dialect whose message names each of `contains`."""
    if path == CHAT:
        assert_openai_error(answer, status, "invalid_request_error", *contains)
    else:
        assert_anthropic_error(answer, status, "invalid_request_error", *contains)


TRAVERSALS = [
    "gemini/../../../../evil",
    "gemini/models/../../evil",
    "azure/..",
    "azure/../../../evil",
    "bedrock/../../evil",
    "bedrock/a/./b",
    "openai/gpt-x?alt=evil",
    "openai/gpt-x#frag",
    "gemini/%2e%2e/%2e%2e/evil",
    "gemini/a\\..\\evil",
]
INJECTIONS = [
    "openai/gpt-x\r\nx-evil: 1",
    "openai/gpt-x\nx-evil: 1",
    "openai/gpt\x00x",
    "openai/gpt x",
    "openai/gpt\tx",
]


@pytest.mark.parametrize("path", [CHAT, MESSAGES])
@pytest.mark.parametrize("model", TRAVERSALS + INJECTIONS + ["a" * 20_000, "", "anthropic/модель"])
async def test_model_names_that_could_change_a_url_or_a_header_are_refused_before_any_upstream_call(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, path: str, model: str
) -> None:
    gw = await make_gateway(providers_at(fake_upstream.url))
    body = json.dumps({"model": model, "max_tokens": 10, "messages": HI}).encode()
    answer = await post_once(gw.url + path, body, key=None)
    assert_dialect_error(path, answer, 400, "model")
    assert answer.json()["error"].get("param", "model") == "model"
    assert fake_upstream.requests == []


async def test_fallbacks_and_count_tokens_check_model_names_too(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    gw = await make_gateway(providers_at(fake_upstream.url))
    body = {"model": "openai/gpt-x", "messages": HI, "fallbacks": ["gemini/../../evil"]}
    answer = await post_once(gw.url + CHAT, json.dumps(body).encode(), key=None)
    assert_dialect_error(CHAT, answer, 400, "fallbacks[0]")
    count = {"model": "anthropic/x\r\ny: z", "messages": HI}
    answer = await post_once(gw.url + MESSAGES + "/count_tokens", json.dumps(count).encode(), key=None)
    assert_dialect_error(MESSAGES, answer, 400, "model")
    assert fake_upstream.requests == []


class EvilRoute:
    """A third-party router that names a target no upstream URL may hold."""

    @hookimpl(tryfirst=True)
    def gw_route(self, call: ChatCall, ctx: CallContext) -> RoutePlan:
        return RoutePlan(targets=(Target(provider="gemini", model="../../../evil"),))


async def test_a_plugin_route_is_checked_before_its_upstream_call(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    gw = await make_gateway(providers_at(fake_upstream.url), plugins=[EvilRoute()])
    answer = await post_once(gw.url + CHAT, json.dumps({"model": "gemini/fine", "messages": HI}).encode(), key=None)
    assert_dialect_error(CHAT, answer, 400, "not a valid model name")
    assert fake_upstream.requests == []


@pytest.mark.parametrize("path", [CHAT, MESSAGES])
async def test_invalid_utf8_in_an_unknown_key_is_a_400(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, path: str
) -> None:
    """The typed decode skips unknown keys; relaying the body must not turn them into a 500."""
    gw = await make_gateway(providers_at(fake_upstream.url))
    model = "openai/gpt-x" if path == CHAT else "anthropic/claude-x"
    body = b'{"model": "' + model.encode() + b'", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}],'
    answer = await post_once(gw.url + path, body + b' "\xff\xfe": 1}', key=None)
    assert_dialect_error(path, answer, 400, "not valid JSON")
    assert fake_upstream.requests == []


@pytest.mark.parametrize("reply", [b"not json", b'{"input_tokens": "many"}', b"{}", b"[1, 2]"])
async def test_a_malformed_count_tokens_answer_is_a_502(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, reply: bytes
) -> None:
    fake_upstream.script("/v1/messages/count_tokens", Reply.raw(reply))
    gw = await make_gateway(upstream_config(fake_upstream.url))
    async with anthropic.AsyncAnthropic(base_url=gw.url + "/anthropic", api_key="k", max_retries=0) as client:
        with pytest.raises(anthropic.APIStatusError) as info:
            await client.messages.count_tokens(model="claude-x", messages=ANTHROPIC_HI)
    assert info.value.status_code == 502
    assert "invalid count_tokens answer" in str(info.value)


async def test_the_served_model_header_carries_only_a_checked_name(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script("/v1/chat/completions", Reply.json(openai_completion("ok")))
    gw = await make_gateway(upstream_config(fake_upstream.url))
    body = {"model": "openai/gpt-4o-2024-08-06:ft-org:custom@v1", "messages": HI}
    answer = await post_once(gw.url + CHAT, body, key=None)
    assert answer.status == 200
    assert answer.headers["x-bf-model"] == "gpt-4o-2024-08-06:ft-org:custom@v1"
