"""Every hook, exercised through a running gateway with a toy plugin (one `test_hook_<name>` each)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import anthropic
import msgspec
import pytest
from aiohttp import web
from anthropic.types import Message, MessageParam
from msgspec.structs import replace
from openai.types.chat import ChatCompletionMessageParam

from gateway import (
    CallContext,
    ChatCall,
    ChatResult,
    Chunk,
    ConfigStruct,
    GatewayError,
    PermissionDenied,
    Principal,
    ProviderKey,
    RoutePlan,
    Target,
    ToolCall,
    ToolOutcome,
    UpstreamError,
    hookimpl,
)
from gateway.config import ConfigError
from gateway.providers.base import ProviderSetup
from gateway.schemas import anthropic as a
from gateway.testing import FakeUpstream, Reply, anthropic_message, anthropic_sse, anthropic_usage, get_once
from tests.conftest import Gateway, MakeGateway, upstream_config
from tests.mcp.helpers import mcp_config, stdio_client

MOCK_ONLY: dict[str, Any] = {"providers": {"mock": {}}}
HELLO: list[MessageParam] = [{"role": "user", "content": "hello"}]
HELLO_CHAT: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello"}]


async def ask(gw: Gateway, model: str = "mock/m", extra_body: dict[str, Any] | None = None) -> Message:
    async with gw.anthropic() as client:
        return await client.messages.create(model=model, max_tokens=32, messages=HELLO, extra_body=extra_body)


async def test_hook_gw_authenticate(make_gateway: MakeGateway) -> None:
    class HeaderAuth:
        @hookimpl
        def gw_authenticate(self, request: web.Request, ctx: CallContext) -> Principal | None:
            user = request.headers.get("x-toy-user")
            return Principal(id=user, kind="toy") if user else None

    seen: list[Principal | None] = []

    class Spy:
        @hookimpl
        def gw_authorize(self, ctx: CallContext) -> None:
            seen.append(ctx.principal)

    gw = await make_gateway({**MOCK_ONLY, "client": {"enforce_auth_on_inference": True}}, [HeaderAuth(), Spy()])
    async with gw.http(None) as http:
        body = {"model": "mock/m", "max_tokens": 5, "messages": HELLO}
        refused = await http.post("/v1/messages", body)
        assert refused.status == 401
        assert refused.json()["error"]["type"] == "authentication_error"
        assert (await http.post("/v1/messages", body, {"x-toy-user": "ada"})).status == 200
    assert seen == [Principal(id="ada", kind="toy")]


@pytest.mark.parametrize("dialect", ["anthropic", "openai"])
async def test_hook_gw_authorize(make_gateway: MakeGateway, dialect: str) -> None:
    class DenyForbidden:
        @hookimpl
        def gw_authorize(self, call: ChatCall) -> None:
            if call.model.endswith("forbidden"):
                raise PermissionDenied(f"model {call.model} is not allowed")

    gw = await make_gateway(MOCK_ONLY, [DenyForbidden()])
    if dialect == "anthropic":
        with pytest.raises(anthropic.PermissionDeniedError, match="not allowed"):
            await ask(gw, "mock/forbidden")
        assert (await ask(gw, "mock/fine")).stop_reason == "end_turn"
    else:
        import openai

        async with gw.openai() as client:
            with pytest.raises(openai.PermissionDeniedError) as denied:
                await client.chat.completions.create(model="mock/forbidden", messages=HELLO_CHAT)
        assert denied.value.status_code == 403


def canned(text: str) -> ChatResult:
    block = a.ContentBlock(type="text", text=text)
    return ChatResult(message=a.Message(id="msg_cached", model="cached", content=[block], stop_reason="end_turn"))


async def test_hook_gw_cache_lookup(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    class Cache:
        @hookimpl
        async def gw_cache_lookup(self, call: ChatCall) -> ChatResult | None:
            return canned("from cache") if call.model == "claude-cached" else None

    gw = await make_gateway(upstream_config(fake_upstream.url), [Cache()])
    assert (await ask(gw, "claude-cached")).content[0].text == "from cache"  # type: ignore[union-attr]
    async with gw.anthropic() as client:
        async with client.messages.stream(model="claude-cached", max_tokens=5, messages=HELLO) as stream:
            assert await stream.get_final_text() == "from cache"
    assert fake_upstream.requests == []


async def test_hook_gw_admit_cached(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    seen: list[tuple[str, str]] = []

    class Cache:
        @hookimpl
        async def gw_cache_lookup(self, call: ChatCall) -> ChatResult | None:
            return canned("from cache") if call.model.startswith("claude-cached") else None

    class Limit:
        @hookimpl
        def gw_admit_cached(self, call: ChatCall, result: ChatResult) -> None:
            seen.append((call.model, result.message.id))
            if call.model == "claude-cached-refused":
                raise PermissionDenied("no cached answers for this one")

    gw = await make_gateway(upstream_config(fake_upstream.url), [Cache(), Limit()])
    assert (await ask(gw, "claude-cached")).content[0].text == "from cache"  # type: ignore[union-attr]
    with pytest.raises(anthropic.PermissionDeniedError, match="no cached answers"):
        await ask(gw, "claude-cached-refused")
    fake_upstream.script("/v1/messages", Reply.json(anthropic_message("not cached")))
    await ask(gw, "claude-x")  # not a hit: the hook is not called
    assert seen == [("claude-cached", "msg_cached"), ("claude-cached-refused", "msg_cached")]
    assert len(fake_upstream.requests) == 1


async def test_hook_gw_route(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    class Alias:
        @hookimpl
        def gw_route(self, call: ChatCall) -> RoutePlan | None:
            if call.model != "smart":
                return None
            return RoutePlan(targets=(Target("openai", "gpt-x"), Target("anthropic", "claude-x")))

    fake_upstream.script("/v1/chat/completions", Reply.error(500, "server_error", "down", dialect="openai"))
    fake_upstream.script("/v1/messages", Reply.json(anthropic_message("fallback answer")))
    gw = await make_gateway(upstream_config(fake_upstream.url), [Alias()])
    assert (await ask(gw, "smart")).content[0].text == "fallback answer"  # type: ignore[union-attr]
    assert fake_upstream.requests_to("/v1/messages")[0].json["model"] == "claude-x"


async def test_hook_gw_prepare_tools(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    class Tools:
        @hookimpl
        def gw_prepare_tools(self) -> list[a.Tool]:
            return [a.Tool(name="clock", description="now", input_schema=msgspec.Raw(b'{"type":"object"}'))]

    fake_upstream.script("/v1/messages", Reply.json(anthropic_message("ok")))
    gw = await make_gateway(upstream_config(fake_upstream.url), [Tools()])
    await ask(gw, "claude-x")
    sent = fake_upstream.requests_to("/v1/messages")[0].json
    assert [t["name"] for t in sent["tools"]] == ["clock"]
    assert sent["messages"] == HELLO


async def test_hook_gw_transform_request(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    class Cool:
        @hookimpl
        def gw_transform_request(self, call: ChatCall, ctx: CallContext) -> ChatCall:
            assert call.target == Target("anthropic", "claude-x")
            return replace(call, request=replace(call.request, temperature=0.25))

    fake_upstream.script("/v1/messages", Reply.json(anthropic_message("ok")))
    gw = await make_gateway(upstream_config(fake_upstream.url), [Cool()])
    await ask(gw, "claude-x")
    sent = fake_upstream.requests_to("/v1/messages")[0].json
    assert sent["temperature"] == 0.25 and sent["model"] == "claude-x"


async def test_hook_gw_transform_response(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    class Shout:
        @hookimpl
        def gw_transform_response(self, result: ChatResult) -> ChatResult:
            blocks = [replace(b, text=b.text.upper()) if isinstance(b.text, str) else b for b in result.message.content]
            return replace(result, message=replace(result.message, content=blocks))

    fake_upstream.script("/v1/messages", Reply.json(anthropic_message("quiet")))
    gw = await make_gateway(upstream_config(fake_upstream.url), [Shout()])
    # A relayed (passthrough) body must not win over the plugin's change.
    assert (await ask(gw, "claude-x")).content[0].text == "QUIET"  # type: ignore[union-attr]


@pytest.mark.parametrize("dialect", ["anthropic", "openai"])
async def test_hook_gw_transform_chunk(make_gateway: MakeGateway, dialect: str) -> None:
    class Stars:
        @hookimpl
        def gw_transform_chunk(self, chunk: Chunk) -> Chunk | None:
            events = tuple(
                replace(e, delta=replace(e.delta, text="*"))
                if isinstance(e, a.ContentBlockDelta) and isinstance(e.delta.text, str)
                else e
                for e in chunk.events
            )
            return Chunk(events=events)

    gw = await make_gateway({"providers": {"mock": {"options": {"chunks": 3}}}}, [Stars()])
    if dialect == "anthropic":
        async with gw.anthropic() as client:
            async with client.messages.stream(model="mock/m", max_tokens=5, messages=HELLO) as stream:
                assert await stream.get_final_text() == "***"
    else:
        async with gw.openai() as chat_client:
            chunks = await chat_client.chat.completions.create(model="mock/m", messages=HELLO_CHAT, stream=True)
            text = "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])
        assert text == "***"


async def test_hook_gw_record_usage(make_gateway: MakeGateway) -> None:
    recorded: list[a.Usage] = []
    done = asyncio.Event()

    class Meter:
        @hookimpl
        async def gw_record_usage(self, usage: a.Usage) -> None:
            recorded.append(usage)
            if len(recorded) == 2:
                done.set()

    gw = await make_gateway(MOCK_ONLY, [Meter()])
    answer = await ask(gw)
    async with gw.anthropic() as client:
        async with client.messages.stream(model="mock/m", max_tokens=5, messages=HELLO) as stream:
            await stream.get_final_message()
    await asyncio.wait_for(done.wait(), 5)
    assert recorded[0].output_tokens == answer.usage.output_tokens > 0
    assert recorded[1].input_tokens == answer.usage.input_tokens > 0


async def test_hook_gw_admit_attempt(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    """Runs once per attempted target with the call as it will go upstream; refusing the primary with an upstream
    error hands the call to the fallback, which is admitted in its turn."""
    admitted: list[Target | None] = []

    class Admission:
        @hookimpl
        def gw_admit_attempt(self, call: ChatCall, ctx: CallContext) -> None:
            admitted.append(call.target)
            if call.target and call.target.provider == "anthropic":
                raise UpstreamError("no room at anthropic today", status=429, kind="rate_limit_error")

    gw = await make_gateway(upstream_config(fake_upstream.url), [Admission()])
    answer = await ask(gw, model="anthropic/claude-x", extra_body={"fallbacks": ["mock/m"]})
    assert answer.content[0].text == "Mock reply to: hello"  # type: ignore[union-attr]
    assert admitted == [Target("anthropic", "claude-x"), Target("mock", "m")]
    assert fake_upstream.requests == []  # the refused attempt never went upstream


async def test_hook_gw_record_error(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    """Every call that ends in an error is recorded once, with the error the client got (secrets masked)."""
    errors = asyncio.Queue[tuple[str, GatewayError]]()

    class Recorder:
        @hookimpl
        def gw_record_error(self, call: ChatCall, error: GatewayError) -> None:
            errors.put_nowait((call.model, error))

    class Denier:
        @hookimpl
        def gw_authorize(self, call: ChatCall) -> None:
            if call.model == "mock/forbidden":
                raise PermissionDenied("not this one")

    fake_upstream.script(
        "/v1/messages", Reply.error(400, "invalid_request_error", "bad key sk-ant-upstream-secret", dialect="anthropic")
    )
    gw = await make_gateway(upstream_config(fake_upstream.url), [Recorder(), Denier()])
    with pytest.raises(anthropic.PermissionDeniedError):
        await ask(gw, model="mock/forbidden")
    with pytest.raises(anthropic.BadRequestError):
        await ask(gw, model="anthropic/claude-x")
    await ask(gw)  # a success records no error
    denied = await asyncio.wait_for(errors.get(), 5)
    failed = await asyncio.wait_for(errors.get(), 5)
    assert denied[0] == "mock/forbidden" and denied[1].status == 403
    assert failed[0] == "anthropic/claude-x" and failed[1].status == 400
    assert "sk-ant-upstream-secret" not in failed[1].message and "[REDACTED]" in failed[1].message
    await asyncio.sleep(0.05)
    assert errors.empty()


async def execute_tool(gw: Gateway, name: str) -> int:
    """POST /v1/mcp/tool/execute with one OpenAI tool call; the answer's status."""
    call = {"id": "call_1", "type": "function", "function": {"name": name, "arguments": '{"text": "hi"}'}}
    async with gw.http() as http:
        return (await http.post("/v1/mcp/tool/execute", call)).status


async def test_hook_gw_admit_tool_call(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    admitted: list[ToolCall] = []

    class Admit:
        @hookimpl
        def gw_admit_tool_call(self, tool: ToolCall, ctx: CallContext) -> None:
            admitted.append(tool)
            if tool.tool == "add":
                raise PermissionDenied("no adding today")

    gw = await make_gateway(mcp_config(fake_upstream, stdio_client()), [Admit()])
    assert await execute_tool(gw, "local-echo") == 200
    assert await execute_tool(gw, "local-add") == 403
    assert await execute_tool(gw, "local-nothing") == 404  # an unknown tool is refused before admission
    assert admitted == [
        ToolCall(name="local-echo", client="local", tool="echo", via="execute"),
        ToolCall(name="local-add", client="local", tool="add", via="execute"),
    ]


async def test_hook_gw_record_tool_call(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    """Every tool call is recorded once, however it ended; a failure with the error the caller got."""
    recorded = asyncio.Queue[tuple[ToolCall, ToolOutcome]]()

    class Recorder:
        @hookimpl
        def gw_record_tool_call(self, tool: ToolCall, outcome: ToolOutcome) -> None:
            recorded.put_nowait((tool, outcome))

    gw = await make_gateway(mcp_config(fake_upstream, stdio_client()), [Recorder()])
    assert await execute_tool(gw, "local-echo") == 200
    assert await execute_tool(gw, "local-nothing") == 404
    ran, ran_outcome = await asyncio.wait_for(recorded.get(), 5)
    assert ran == ToolCall(name="local-echo", client="local", tool="echo", via="execute")
    assert ran_outcome.error is None and ran_outcome.is_error is False and 0 < ran_outcome.duration_s < 5
    unknown, unknown_outcome = await asyncio.wait_for(recorded.get(), 5)
    assert unknown.name == "local-nothing"
    assert unknown_outcome.error is not None and unknown_outcome.error.status == 404
    assert unknown_outcome.error.kind == "tool_execution_error"
    await asyncio.sleep(0.05)
    assert recorded.empty()


async def test_hook_gw_cache_store(make_gateway: MakeGateway) -> None:
    stored = asyncio.Queue[ChatResult]()

    class Store:
        @hookimpl
        def gw_cache_store(self, call: ChatCall, result: ChatResult) -> None:
            stored.put_nowait(result)

    gw = await make_gateway(MOCK_ONLY, [Store()])
    answer = await ask(gw)
    assert (await asyncio.wait_for(stored.get(), 5)).message.id == answer.id


class EchoProvider:
    kind: ClassVar[str] = "echo"
    dialect = None
    options_type = ConfigStruct
    requires_keys: ClassVar[bool] = False

    def __init__(self, setup: ProviderSetup) -> None:
        self.setup = setup

    async def complete(self, call: ChatCall, key: ProviderKey, ctx: CallContext) -> ChatResult:
        return canned(f"echo {call.target.model if call.target else ''}")

    async def stream(self, call: ChatCall, key: ProviderKey, ctx: CallContext) -> AsyncIterator[Chunk]:
        yield Chunk(events=())

    async def count_tokens(self, call: ChatCall, key: ProviderKey, ctx: CallContext) -> int:
        return 7

    def known_models(self) -> list[str]:
        return ["parrot"]


async def test_hook_gw_register_providers(make_gateway: MakeGateway) -> None:
    class Registers:
        @hookimpl
        def gw_register_providers(self, registry: Any) -> None:
            registry.add(EchoProvider)

    gw = await make_gateway({"providers": {"echo": {}}}, [Registers()])
    assert (await ask(gw, "echo/parrot")).content[0].text == "echo parrot"  # type: ignore[union-attr]
    async with gw.anthropic() as client:
        assert [m.id async for m in client.models.list()] == ["echo/parrot"]


class GreetingConfig(ConfigStruct, frozen=True):
    greeting: str
    times: int = 1


async def test_hook_gw_register_config(make_gateway: MakeGateway) -> None:
    class Greeter:
        @hookimpl
        def gw_register_config(self, registry: Any) -> None:
            registry.add("greeter", GreetingConfig)

        @hookimpl
        def gw_cache_lookup(self, ctx: CallContext) -> ChatResult:
            config = ctx.config(GreetingConfig)
            return canned(config.greeting * config.times)

    entry = {"name": "greeter", "path": "tests.plugins.test_hooks", "config": {"greeting": "hi", "times": 2}}
    gw = await make_gateway({**MOCK_ONLY, "plugins": [entry]}, [Greeter()])
    assert (await ask(gw)).content[0].text == "hihi"  # type: ignore[union-attr]
    bad = {**MOCK_ONLY, "plugins": [{**entry, "config": {"times": "x"}}]}
    with pytest.raises(ConfigError) as error:
        await make_gateway(bad, [Greeter()])
    assert sorted(error.value.errors) == [
        "$.plugins[0].config.times: Expected `int`, got `str`",
        "$.plugins[0].config: missing required key 'greeting'",
    ]


async def test_hook_gw_register_routes(make_gateway: MakeGateway) -> None:
    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"hello": "plugin"})

    class Routes:
        @hookimpl
        def gw_register_routes(self, app: web.Application) -> None:
            app.router.add_get("/toy/hello", hello)

    gw = await make_gateway(MOCK_ONLY, [Routes()])
    response = await get_once(gw.url + "/toy/hello")
    assert response.json() == {"hello": "plugin"}
    assert "x-request-id" in response.headers  # plugin routes go through the core middleware too


async def test_hook_gw_lifespan(make_gateway: MakeGateway) -> None:
    events: list[str] = []

    class Lifespan:
        @hookimpl
        def gw_lifespan(self, app: web.Application) -> contextlib.AbstractAsyncContextManager[None]:
            @contextlib.asynccontextmanager
            async def running() -> AsyncIterator[None]:
                events.append("start")
                yield
                events.append("stop")

            return running()

    gw = await make_gateway(MOCK_ONLY, [Lifespan()])
    assert events == ["start"]
    await gw.app.shutdown()
    await gw.app.cleanup()
    assert events == ["start", "stop"]


async def test_hook_gw_record_usage_on_a_relayed_anthropic_stream(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    """A pure relay decodes only usage-bearing events: the usage must still be the upstream's final one."""
    recorded: asyncio.Queue[a.Usage] = asyncio.Queue()

    class Meter:
        @hookimpl
        def gw_record_usage(self, usage: a.Usage) -> None:
            recorded.put_nowait(usage)

    usage = anthropic_usage(input_tokens=11, output_tokens=22, cache_read_input_tokens=5)
    fake_upstream.script("/v1/messages", Reply.sse(anthropic_sse(("a", "b"), usage=usage)))
    gw = await make_gateway(upstream_config(fake_upstream.url), [Meter()])
    async with gw.anthropic() as client:
        async with client.messages.stream(model="claude-x", max_tokens=5, messages=HELLO) as stream:
            assert await stream.get_final_text() == "ab"
    got = await asyncio.wait_for(recorded.get(), 5)
    assert (got.input_tokens, got.output_tokens, got.cache_read_input_tokens) == (11, 22, 5)


async def test_hook_gw_transform_chunk_sees_every_event_of_an_anthropic_upstream(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    class Upper:
        @hookimpl
        def gw_transform_chunk(self, chunk: Chunk) -> Chunk:
            events = tuple(
                replace(e, delta=replace(e.delta, text=e.delta.text.upper()))
                if isinstance(e, a.ContentBlockDelta) and isinstance(e.delta.text, str)
                else e
                for e in chunk.events
            )
            return Chunk(events=events)

    fake_upstream.script("/v1/messages", Reply.sse(anthropic_sse(("ab", "cd"))))
    gw = await make_gateway(upstream_config(fake_upstream.url), [Upper()])
    async with gw.anthropic() as client:
        async with client.messages.stream(model="claude-x", max_tokens=5, messages=HELLO) as stream:
            assert await stream.get_final_text() == "ABCD"


async def test_hook_gw_record_usage_on_a_relayed_openai_stream(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    """An OpenAI relay reads only usage and errors: the recorded usage is the upstream's usage chunk."""
    from gateway.testing import openai_sse, openai_usage

    recorded: asyncio.Queue[a.Usage] = asyncio.Queue()

    class Meter:
        @hookimpl
        def gw_record_usage(self, usage: a.Usage) -> None:
            recorded.put_nowait(usage)

    usage = openai_usage(100, 7, cached_tokens=60)
    fake_upstream.script("/v1/chat/completions", Reply.sse(openai_sse(("a", "b"), usage=usage)))
    gw = await make_gateway(upstream_config(fake_upstream.url), [Meter()])
    async with gw.openai() as client:
        stream = await client.chat.completions.create(model="openai/gpt-x", messages=HELLO_CHAT, stream=True)
        chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "ab"
    assert all(c.choices for c in chunks)  # the usage chunk the gateway asked for stays hidden
    got = await asyncio.wait_for(recorded.get(), 5)
    assert (got.input_tokens, got.cache_read_input_tokens, got.output_tokens) == (40, 60, 7)
