"""The plugin author's kit: start the gateway in-process with a config and plugins, script fake upstreams that
speak the Anthropic and OpenAI wires, and drive it with the official SDKs or raw HTTP. The pytest fixtures
(`fake_upstream`, `make_gateway`, `gateway`) load by themselves where the gateway is installed.

A third-party plugin's test::

    from gateway.testing import Reply, anthropic_message

    async def test_my_plugin(make_gateway, fake_upstream):
        fake_upstream.script("/v1/messages", Reply.json(anthropic_message("Hi")))
        gw = await make_gateway(upstream_config(fake_upstream.url), plugins=[my_plugin])
        async with gw.anthropic() as client:
            answer = await client.messages.create(model="claude-x", max_tokens=10, messages=[...])
"""

from .asserts import assert_anthropic_error, assert_openai_error, check_stream_grammar, openai_error_of
from .bodies import HI, anthropic_body, openai_body
from .client import ANTHROPIC_VERSION, CLIENT_KEY, Answer, Http, get_once, post_once
from .fakes import FakeUpstream, Recorded, Reply
from .harness import ANTHROPIC_KEY, OPENAI_KEY, Gateway, serve_gateway, upstream_config
from .models import FakeModel, anthropic_checks, gemini_checks, openai_checks
from .pytest_plugin import MakeGateway
from .wire import (
    ANTHROPIC_MODEL,
    CREATED,
    FAKE_SIGNATURE,
    OPENAI_DONE,
    OPENAI_MODEL,
    SseEvent,
    ToolUse,
    anthropic_error,
    anthropic_error_frame,
    anthropic_frame,
    anthropic_message,
    anthropic_sse,
    anthropic_usage,
    dumps,
    openai_completion,
    openai_error,
    openai_error_frame,
    openai_frame,
    openai_sse,
    openai_tool_call,
    openai_usage,
    parse_sse,
)

__all__ = [
    "ANTHROPIC_KEY",
    "ANTHROPIC_MODEL",
    "ANTHROPIC_VERSION",
    "CLIENT_KEY",
    "CREATED",
    "FAKE_SIGNATURE",
    "HI",
    "OPENAI_DONE",
    "OPENAI_KEY",
    "OPENAI_MODEL",
    "Answer",
    "FakeModel",
    "FakeUpstream",
    "Gateway",
    "Http",
    "MakeGateway",
    "Recorded",
    "Reply",
    "SseEvent",
    "ToolUse",
    "anthropic_body",
    "anthropic_checks",
    "anthropic_error",
    "anthropic_error_frame",
    "anthropic_frame",
    "anthropic_message",
    "anthropic_sse",
    "anthropic_usage",
    "assert_anthropic_error",
    "assert_openai_error",
    "check_stream_grammar",
    "dumps",
    "gemini_checks",
    "get_once",
    "openai_body",
    "openai_checks",
    "openai_completion",
    "openai_error",
    "openai_error_frame",
    "openai_error_of",
    "openai_frame",
    "openai_sse",
    "openai_tool_call",
    "openai_usage",
    "parse_sse",
    "post_once",
    "serve_gateway",
    "upstream_config",
]
