"""Config errors at start-up, and config settings whose effect shows in what the upstream receives."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import openai
import pytest

from gateway.app import create_app
from gateway.config import ConfigError, parse_settings
from gateway.testing import FakeUpstream, Reply, anthropic_message, openai_completion, openai_sse
from tests.conftest import ANTHROPIC_KEY, OPENAI_KEY, MakeGateway, upstream_config
from tests.http.anthropic_helpers import HI
from tests.http.openai_helpers import USER_HI, anthropic_provider, openai_provider, post_openai

CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"


def _errors(config: dict[str, Any]) -> list[str]:
    """Every error line that parsing and building the app report for `config`."""
    with pytest.raises(ConfigError) as caught:
        create_app(parse_settings(config))
    errors = caught.value.errors
    assert errors and all(line.startswith("$") for line in errors), errors
    return errors


def _has(errors: list[str], path: str, *words: str) -> bool:
    return any(line.startswith(path + ":") and all(w in line for w in words) for line in errors)


# --- errors -------------------------------------------------------------------------------------------------


def test_config_unknown_provider_kind() -> None:
    errors = _errors({"providers": {"acme": {"keys": [{"value": "k"}]}}})
    assert _has(errors, "$.providers.acme", "unknown provider kind", "acme")


def test_config_unknown_base_provider_type() -> None:
    config = {
        "providers": {"local": {"custom_provider_config": {"base_provider_type": "nope"}, "keys": [{"value": "k"}]}}
    }
    assert _has(_errors(config), "$.providers.local", "nope")


def test_config_custom_provider_needs_base_type() -> None:
    config = {"providers": {"vllm": {"custom_provider_config": {}, "keys": [{"value": "k"}]}}}
    assert _has(_errors(config), "$.providers.vllm.custom_provider_config", "base_provider_type")


def test_config_bad_provider_option_value() -> None:
    config = {"providers": {"openai": {"keys": [{"value": "k"}], "options": {"max_tokens_field": "nope"}}}}
    assert _has(_errors(config), "$.providers.openai.options.max_tokens_field")


def test_config_unknown_provider_option() -> None:
    config = {"providers": {"openai": {"keys": [{"value": "k"}], "options": {"max_token_field": "max_tokens"}}}}
    assert _has(_errors(config), "$.providers.openai.options.max_token_field", "unknown")


def test_config_bad_mock_option_type() -> None:
    assert _has(_errors({"providers": {"mock": {"options": {"chunks": "many"}}}}), "$.providers.mock.options.chunks")


def test_config_unknown_plugin_name() -> None:
    config = {"providers": {"mock": {}}, "plugins": [{"name": "no-such-plugin"}]}
    assert _has(_errors(config), "$.plugins[0].name", "no-such-plugin")


def test_config_plugin_path_not_importable() -> None:
    config = {"providers": {"mock": {}}, "plugins": [{"name": "x", "path": "tests.no_such_module_here"}]}
    assert _has(_errors(config), "$.plugins[0].path", "tests.no_such_module_here")


def test_config_reports_every_error_at_once() -> None:
    config = {
        "providers": {
            "openai": {"keys": [{"value": "k", "weight": 0}], "network_config": {"max_retries": "x"}},
            "acme": {},
        },
        "client": {"default_max_tokens": -1, "colour": "red"},
    }
    with pytest.raises(ConfigError) as caught:
        parse_settings(config)
    errors = caught.value.errors
    assert _has(errors, "$.providers.openai.keys[0].weight")
    assert _has(errors, "$.providers.openai.network_config.max_retries")
    assert _has(errors, "$.client.default_max_tokens")
    assert _has(errors, "$.client.colour", "unknown key")


def test_config_missing_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWAY_TEST_UNSET_KEY", raising=False)
    config = {"providers": {"openai": {"keys": [{"value": "env.GATEWAY_TEST_UNSET_KEY"}]}}}
    with pytest.raises(ConfigError) as caught:
        parse_settings(config)
    assert _has(caught.value.errors, "$.providers.openai.keys[0].value", "GATEWAY_TEST_UNSET_KEY")


async def test_config_env_var_value_reaches_upstream(
    fake_upstream: FakeUpstream, make_gateway: MakeGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_TEST_OPENAI_KEY", "sk-from-env")
    gw = await make_gateway(
        {"providers": {"openai": openai_provider(fake_upstream.url, keys=[{"value": "env.GATEWAY_TEST_OPENAI_KEY"}])}}
    )
    fake_upstream.script(CHAT, Reply.json(openai_completion()))
    async with gw.openai() as client:
        await client.chat.completions.create(model="openai/gpt-x", messages=USER_HI)
    assert fake_upstream.requests_to(CHAT)[0].headers["authorization"] == "Bearer sk-from-env"


# --- custom providers and options ---------------------------------------------------------------------------


def _vllm(url: str) -> dict[str, Any]:
    return {
        "custom_provider_config": {"base_provider_type": "openai"},
        "keys": [{"name": "local", "value": "vllm-key", "models": ["meta-llama/Llama-3.1-8B-Instruct"]}],
        "network_config": {"base_url": url},
        "options": {"max_tokens_field": "max_tokens"},
    }


async def test_config_custom_openai_provider_end_to_end(fake_upstream: FakeUpstream, make_gateway: MakeGateway) -> None:
    gw = await make_gateway({"providers": {"vllm": _vllm(fake_upstream.url)}})
    fake_upstream.script(CHAT, Reply.json(openai_completion("from vllm", model="meta-llama/Llama-3.1-8B-Instruct")))
    async with gw.openai() as client:
        completion = await client.chat.completions.create(
            model="vllm/meta-llama/Llama-3.1-8B-Instruct", messages=USER_HI
        )
    assert completion.choices[0].message.content == "from vllm"
    sent = fake_upstream.requests_to(CHAT)[0]
    assert sent.json["model"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert sent.headers["authorization"] == "Bearer vllm-key"


async def test_config_custom_openai_provider_bare_model_and_stream(
    fake_upstream: FakeUpstream, make_gateway: MakeGateway
) -> None:
    gw = await make_gateway({"providers": {"vllm": _vllm(fake_upstream.url)}})
    fake_upstream.script(CHAT, Reply.sse(openai_sse(("lla", "ma"))))
    async with gw.openai() as client:
        stream = await client.chat.completions.create(
            model="meta-llama/Llama-3.1-8B-Instruct", messages=USER_HI, stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "llama"
    assert fake_upstream.requests_to(CHAT)[0].json["model"] == "meta-llama/Llama-3.1-8B-Instruct"


async def test_config_custom_openai_provider_serves_anthropic_clients(
    fake_upstream: FakeUpstream, make_gateway: MakeGateway
) -> None:
    gw = await make_gateway({"providers": {"vllm": _vllm(fake_upstream.url)}})
    fake_upstream.script(CHAT, Reply.json(openai_completion("hello")))
    async with gw.anthropic() as client:
        message = await client.messages.create(
            model="vllm/meta-llama/Llama-3.1-8B-Instruct",
            max_tokens=33,
            messages=HI,
        )
    assert message.content[0].text == "hello"  # type: ignore[union-attr]
    sent = fake_upstream.requests_to(CHAT)[0].json
    assert sent["max_tokens"] == 33 and "max_completion_tokens" not in sent


@pytest.mark.parametrize(
    ("options", "expected", "absent"),
    [
        ({"max_tokens_field": "max_tokens"}, "max_tokens", "max_completion_tokens"),
        ({"max_tokens_field": "max_completion_tokens"}, "max_completion_tokens", "max_tokens"),
        ({}, "max_completion_tokens", "max_tokens"),
    ],
)
async def test_config_max_tokens_field(
    fake_upstream: FakeUpstream, make_gateway: MakeGateway, options: dict[str, str], expected: str, absent: str
) -> None:
    gw = await make_gateway({"providers": {"openai": openai_provider(fake_upstream.url, options=options)}})
    fake_upstream.script(CHAT, Reply.json(openai_completion()))
    async with gw.anthropic() as client:
        await client.messages.create(model="openai/gpt-x", max_tokens=99, messages=HI)
    sent = fake_upstream.requests_to(CHAT)[0].json
    assert sent[expected] == 99
    assert absent not in sent


@pytest.mark.parametrize(("model", "path"), [("openai/gpt-x", CHAT), ("anthropic/claude-x", MESSAGES)])
async def test_config_extra_headers_reach_upstream(
    fake_upstream: FakeUpstream, make_gateway: MakeGateway, model: str, path: str
) -> None:
    network = {"extra_headers": {"X-Org-Tag": "blue", "X-Trace": "t-1"}}
    config = {
        "providers": {
            "anthropic": anthropic_provider(fake_upstream.url, network_config=network),
            "openai": openai_provider(fake_upstream.url, network_config=network),
        }
    }
    gw = await make_gateway(config)
    fake_upstream.script(CHAT, Reply.json(openai_completion()))
    fake_upstream.script(MESSAGES, Reply.json(anthropic_message()))
    async with gw.openai() as client:
        await client.chat.completions.create(model=model, messages=USER_HI)
    sent = fake_upstream.requests_to(path)[0]
    assert sent.headers["x-org-tag"] == "blue"
    assert sent.headers["x-trace"] == "t-1"


# --- keys ---------------------------------------------------------------------------------------------------


async def _burst(url: str, model: str, count: int) -> list[int]:
    body = {"model": model, "messages": USER_HI}
    statuses: list[int] = []
    for start in range(0, count, 50):
        replies = await asyncio.gather(*(post_openai(url + CHAT, body) for _ in range(min(50, count - start))))
        statuses.extend(r.status for r in replies)
    return statuses


async def test_keys_weighted_choice(fake_upstream: FakeUpstream, make_gateway: MakeGateway) -> None:
    keys = [{"name": "light", "value": "key-w1", "weight": 1}, {"name": "heavy", "value": "key-w3", "weight": 3}]
    gw = await make_gateway({"providers": {"openai": openai_provider(fake_upstream.url, keys=keys)}})
    fake_upstream.default(CHAT, Reply.json(openai_completion()))
    statuses = await _burst(gw.url, "openai/gpt-x", 400)
    assert statuses == [200] * 400
    used = Counter(r.headers["authorization"] for r in fake_upstream.requests_to(CHAT))
    assert sum(used.values()) == 400
    # expected 100 / 300; the standard deviation of the light count is ~8.7, so +-45 is over 5 sigma
    assert 55 <= used["Bearer key-w1"] <= 145, used
    assert used["Bearer key-w1"] + used["Bearer key-w3"] == 400


async def test_keys_restricted_by_models(fake_upstream: FakeUpstream, make_gateway: MakeGateway) -> None:
    keys = [
        {"name": "a", "value": "key-a", "models": ["gpt-a"], "weight": 5},
        {"name": "b", "value": "key-b", "models": ["gpt-b"]},
    ]
    gw = await make_gateway({"providers": {"openai": openai_provider(fake_upstream.url, keys=keys)}})
    fake_upstream.default(CHAT, Reply.json(openai_completion()))
    assert await _burst(gw.url, "openai/gpt-a", 20) == [200] * 20
    assert await _burst(gw.url, "openai/gpt-b", 20) == [200] * 20
    sent = fake_upstream.requests_to(CHAT)
    assert {(r.json["model"], r.headers["authorization"]) for r in sent} == {
        ("gpt-a", "Bearer key-a"),
        ("gpt-b", "Bearer key-b"),
    }
    reply = await post_openai(gw.url + CHAT, {"model": "openai/gpt-c", "messages": USER_HI})
    assert reply.status == 400
    assert "gpt-c" in reply.json()["error"]["message"]
    assert len(fake_upstream.requests_to(CHAT)) == 40


async def test_keys_star_key_serves_any_model(fake_upstream: FakeUpstream, make_gateway: MakeGateway) -> None:
    keys = [{"name": "a", "value": "key-a", "models": ["gpt-a"]}, {"name": "all", "value": "key-all"}]
    gw = await make_gateway({"providers": {"openai": openai_provider(fake_upstream.url, keys=keys)}})
    fake_upstream.default(CHAT, Reply.json(openai_completion()))
    assert await _burst(gw.url, "openai/gpt-z", 10) == [200] * 10
    assert {r.headers["authorization"] for r in fake_upstream.requests_to(CHAT)} == {"Bearer key-all"}


# --- retries ------------------------------------------------------------------------------------------------


def _retrying(url: str, max_retries: int) -> dict[str, Any]:
    network = {"max_retries": max_retries, "retry_backoff_initial": 0, "retry_backoff_max": 1}
    return {
        "providers": {
            "openai": openai_provider(url, network_config=network),
            "anthropic": anthropic_provider(url, network_config=network),
        }
    }


def _openai_error(status: int, **headers: str) -> Reply:
    return Reply.error(status, "server_error", f"status {status}", dialect="openai", headers=headers)


async def test_retries_5xx_then_success(fake_upstream: FakeUpstream, make_gateway: MakeGateway) -> None:
    gw = await make_gateway(_retrying(fake_upstream.url, 2))
    fake_upstream.script(CHAT, _openai_error(500), _openai_error(500), Reply.json(openai_completion("third time")))
    async with gw.openai() as client:
        completion = await client.chat.completions.create(model="openai/gpt-x", messages=USER_HI)
    assert completion.choices[0].message.content == "third time"
    assert len(fake_upstream.requests_to(CHAT)) == 3


async def test_retries_exhausted_relays_last_error(fake_upstream: FakeUpstream, make_gateway: MakeGateway) -> None:
    gw = await make_gateway(_retrying(fake_upstream.url, 2))
    fake_upstream.script(
        CHAT, _openai_error(500), _openai_error(502), _openai_error(503), Reply.json(openai_completion())
    )
    async with gw.openai() as client:
        with pytest.raises(openai.InternalServerError) as caught:
            await client.chat.completions.create(model="openai/gpt-x", messages=USER_HI)
    assert caught.value.status_code == 503
    assert len(fake_upstream.requests_to(CHAT)) == 3


async def test_retries_429_with_retry_after_zero(fake_upstream: FakeUpstream, make_gateway: MakeGateway) -> None:
    gw = await make_gateway(_retrying(fake_upstream.url, 2))
    fake_upstream.script(
        CHAT,
        Reply.error(429, "rate_limit_exceeded", "slow", dialect="openai", headers={"retry-after": "0"}),
        Reply.json(openai_completion("after wait")),
    )
    async with gw.openai() as client:
        completion = await client.chat.completions.create(model="openai/gpt-x", messages=USER_HI)
    assert completion.choices[0].message.content == "after wait"
    assert len(fake_upstream.requests_to(CHAT)) == 2


async def test_retries_not_on_400(fake_upstream: FakeUpstream, make_gateway: MakeGateway) -> None:
    gw = await make_gateway(_retrying(fake_upstream.url, 2))
    fake_upstream.script(
        CHAT,
        Reply.error(400, "invalid_request_error", "bad field", dialect="openai"),
        Reply.json(openai_completion()),
    )
    async with gw.openai() as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(model="openai/gpt-x", messages=USER_HI)
    assert "bad field" in caught.value.message
    assert len(fake_upstream.requests_to(CHAT)) == 1


async def test_retries_zero_relays_503(fake_upstream: FakeUpstream, make_gateway: MakeGateway) -> None:
    gw = await make_gateway(_retrying(fake_upstream.url, 0))
    fake_upstream.script(CHAT, _openai_error(503), Reply.json(openai_completion()))
    async with gw.openai() as client:
        with pytest.raises(openai.InternalServerError) as caught:
            await client.chat.completions.create(model="openai/gpt-x", messages=USER_HI)
    assert caught.value.status_code == 503
    assert "status 503" in caught.value.message
    assert len(fake_upstream.requests_to(CHAT)) == 1


async def test_retries_anthropic_529_then_success(fake_upstream: FakeUpstream, make_gateway: MakeGateway) -> None:
    gw = await make_gateway(_retrying(fake_upstream.url, 2))
    overloaded = Reply.error(529, "overloaded_error", "Overloaded", dialect="anthropic")
    fake_upstream.script(MESSAGES, overloaded, overloaded, Reply.json(anthropic_message("finally")))
    async with gw.openai() as client:
        completion = await client.chat.completions.create(model="anthropic/claude-x", messages=USER_HI)
    assert completion.choices[0].message.content == "finally"
    assert len(fake_upstream.requests_to(MESSAGES)) == 3


async def test_retries_stream_before_first_chunk(fake_upstream: FakeUpstream, make_gateway: MakeGateway) -> None:
    gw = await make_gateway(_retrying(fake_upstream.url, 2))
    fake_upstream.script(CHAT, _openai_error(500), Reply.sse(openai_sse(("ok",))))
    async with gw.openai() as client:
        stream = await client.chat.completions.create(model="openai/gpt-x", messages=USER_HI, stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "ok"
    assert len(fake_upstream.requests_to(CHAT)) == 2


async def test_retries_default_is_none(fake_upstream: FakeUpstream, make_gateway: MakeGateway) -> None:
    gw = await make_gateway(upstream_config(fake_upstream.url))
    fake_upstream.script(CHAT, _openai_error(500), Reply.json(openai_completion()))
    async with gw.openai() as client:
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(model="openai/gpt-x", messages=USER_HI)
    assert len(fake_upstream.requests_to(CHAT)) == 1


def test_config_keys_are_never_printed() -> None:
    settings = parse_settings(
        {"providers": {"openai": {"keys": [{"value": OPENAI_KEY}]}, "anthropic": {"keys": [{"value": ANTHROPIC_KEY}]}}}
    )
    assert OPENAI_KEY not in repr(settings) and ANTHROPIC_KEY not in repr(settings)
