"""Fake upstreams for the structured-output matrix: each provider kind's wire, as one `Wire` value that builds its
replies (a text answer, a call of the synthetic tool, both streamed) and reads back what the gateway sent (the
native field's schema, the forced tool, the system prompt, the last turns of a repair request).

The four behaviours of the issue's matrix are scripts of these replies: (a) honour the native field = `text(GOOD)`
on a native request; (b) ignore it and answer prose = `text(PROSE)`; (c) `text(MISSING)` then `text(GOOD)`;
(d) `text(MISSING)` as the default. Tool mode answers with `tool(...)` instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.testing import (
    ANTHROPIC_KEY,
    OPENAI_KEY,
    Recorded,
    Reply,
    ToolUse,
    anthropic_message,
    anthropic_sse,
    anthropic_usage,
    openai_completion,
    openai_sse,
    openai_usage,
)
from tests.fakes.bedrock import (
    ACCESS_KEY,
    REGION,
    SECRET_KEY,
    converse_path,
    converse_response,
    converse_stream,
    converse_usage,
    json_reply,
    stream_reply,
)
from tests.fakes.gemini import (
    call_part,
    gemini_chunk,
    gemini_response,
    gemini_sse,
    gemini_usage,
    generate_path,
    stream_path,
    text_stream,
)

TOOL = "bf_structured_output"
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["city", "population"],
    "additionalProperties": False,
}
GOOD = '{"city": "Paris", "population": 2100000}'
MISSING = '{"city": "Paris"}'
WRONG_TYPE = '{"city": "Paris", "population": "many"}'
PROSE = "Paris is the capital of France, with about two million people."
LLAMA = "meta.llama3-70b-instruct-v1:0"  # a Bedrock family without Converse structured output: tool by default
Config = dict[str, Any]


@dataclass(frozen=True)
class Wire:
    """One provider kind as the fake serves it and as the gateway is configured for it."""

    name: str
    provider: str  # the config's provider name
    model: str  # the upstream model id
    path: str
    stream_path: str
    provider_config: Callable[[str], Config]  # the provider's entry, for the fake's URL
    text: Callable[[str, int, int], Reply]  # an answer in text, with usage (input, output)
    tool: Callable[[str, int, int], Reply]  # an answer that calls the synthetic tool with this JSON
    stream_text: Callable[[Sequence[str]], Reply]
    stream_tool: Callable[[str], Reply]
    native_schema: Callable[[Any], Any]  # the schema the native field carries, or None
    forced_tool: Callable[[Any], str | None]  # the name the request forces, or None
    system: Callable[[Any], str]  # the system prompt's text
    turns: Callable[[Any], list[tuple[str, str]]]  # (role, the content as JSON text) per message

    @property
    def routed(self) -> str:
        """The model as a client names it."""
        return f"{self.provider}/{self.model}"

    def config(self, url: str, structured: Config | None = None) -> Config:
        entry = self.provider_config(url)
        if structured is not None:
            entry["structured_output"] = structured
        return {"providers": {self.provider: entry}}

    def sent(self, recorded: Sequence[Recorded]) -> list[Any]:
        return [r.json for r in recorded if r.path in (self.path, self.stream_path)]


def _key(value: str) -> Callable[[str], Config]:
    return lambda url: {"keys": [{"name": "k", "value": value}], "network_config": {"base_url": url}}


def _custom(url: str) -> Config:
    return {**_key("sk-vllm")(url), "custom_provider_config": {"base_provider_type": "openai"}}


def _bedrock(url: str) -> Config:
    credentials = {"region": REGION, "access_key": ACCESS_KEY, "secret_key": SECRET_KEY}
    return {
        "keys": [{"name": "b", "value": "", "bedrock_key_config": credentials}],
        "network_config": {"base_url": url},
    }


def _dumps(value: object) -> str:
    return json.dumps(value, sort_keys=True)


# --- Anthropic ------------------------------------------------------------------------------------------------


def _anthropic_tool(answer: str, i: int, o: int) -> Reply:
    use = ToolUse("toolu_so", TOOL, json.loads(answer))
    return Reply.json(anthropic_message(None, tool_uses=[use], usage=anthropic_usage(i, o)))


def _anthropic_native(body: Any) -> Any:
    fmt = (body.get("output_config") or {}).get("format") or body.get("output_format") or {}
    return fmt.get("schema")


def _anthropic_forced(body: Any) -> str | None:
    choice = body.get("tool_choice") or {}
    return choice.get("name") if choice.get("type") == "tool" else None


def _anthropic_system(body: Any) -> str:
    system = body.get("system") or ""
    return system if isinstance(system, str) else "".join(b.get("text", "") for b in system)


ANTHROPIC = Wire(
    name="anthropic",
    provider="anthropic",
    model="claude-x",
    path="/v1/messages",
    stream_path="/v1/messages",
    provider_config=_key(ANTHROPIC_KEY),
    text=lambda t, i, o: Reply.json(anthropic_message(t, usage=anthropic_usage(i, o))),
    tool=_anthropic_tool,
    stream_text=lambda pieces: Reply.sse(anthropic_sse(list(pieces))),
    stream_tool=lambda t: Reply.sse(anthropic_sse([], tool_uses=[ToolUse("toolu_so", TOOL, json.loads(t))])),
    native_schema=_anthropic_native,
    forced_tool=_anthropic_forced,
    system=_anthropic_system,
    turns=lambda body: [(m["role"], _dumps(m["content"])) for m in body["messages"]],
)


# --- OpenAI and the OpenAI-compatible servers ---------------------------------------------------------------


def _openai_tool(answer: str, i: int, o: int) -> Reply:
    use = ToolUse("call_so", TOOL, json.loads(answer))
    return Reply.json(openai_completion(None, tool_calls=[use], usage=openai_usage(i, o)))


def _openai_native(body: Any) -> Any:
    fmt = body.get("response_format") or {}
    return (fmt.get("json_schema") or {}).get("schema")


def _openai_forced(body: Any) -> str | None:
    choice = body.get("tool_choice")
    return choice["function"]["name"] if isinstance(choice, dict) else None


def _openai_system(body: Any) -> str:
    return "".join(_dumps(m["content"]) for m in body["messages"] if m["role"] in ("system", "developer"))


def _openai_turns(body: Any) -> list[tuple[str, str]]:
    return [(m["role"], _dumps({k: v for k, v in m.items() if k != "role"})) for m in body["messages"]]


def _openai_wire(name: str, provider: str, model: str, config: Callable[[str], Config]) -> Wire:
    return Wire(
        name=name,
        provider=provider,
        model=model,
        path="/v1/chat/completions",
        stream_path="/v1/chat/completions",
        provider_config=config,
        text=lambda t, i, o: Reply.json(openai_completion(t, usage=openai_usage(i, o))),
        tool=_openai_tool,
        stream_text=lambda pieces: Reply.sse(openai_sse(list(pieces))),
        stream_tool=lambda t: Reply.sse(openai_sse([], tool_calls=[ToolUse("call_so", TOOL, json.loads(t))])),
        native_schema=_openai_native,
        forced_tool=_openai_forced,
        system=_openai_system,
        turns=_openai_turns,
    )


OPENAI = _openai_wire("openai", "openai", "gpt-x", _key(OPENAI_KEY))
VLLM = _openai_wire("custom", "vllm", "qwen", _custom)
GROQ = _openai_wire("groq", "groq", "llama-x", _key("gsk-groq"))


# --- Gemini -------------------------------------------------------------------------------------------------


def _gemini_tool(answer: str, i: int, o: int) -> Reply:
    part = call_part(TOOL, json.loads(answer))
    return Reply.json(gemini_response(None, parts=[part], usage=gemini_usage(i, o)))


def _gemini_stream_tool(answer: str) -> Reply:
    chunk = gemini_chunk([call_part(TOOL, json.loads(answer))], finish="STOP", usage=gemini_usage())
    return Reply.sse(gemini_sse([chunk]))


def _gemini_native(body: Any) -> Any:
    config = body.get("generationConfig") or {}
    return config.get("responseJsonSchema") or config.get("responseSchema")


def _gemini_forced(body: Any) -> str | None:
    calling = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    names = calling.get("allowedFunctionNames") or []
    return names[0] if calling.get("mode") == "ANY" and len(names) == 1 else None


def _gemini_system(body: Any) -> str:
    return "".join(p.get("text", "") for p in (body.get("systemInstruction") or {}).get("parts", []))


GEMINI = Wire(
    name="gemini",
    provider="gemini",
    model="gemini-x",
    path=generate_path(),
    stream_path=stream_path(),
    provider_config=_key("goog-key"),
    text=lambda t, i, o: Reply.json(gemini_response(t, usage=gemini_usage(i, o))),
    tool=_gemini_tool,
    stream_text=lambda pieces: Reply.sse(text_stream(list(pieces))),
    stream_tool=_gemini_stream_tool,
    native_schema=_gemini_native,
    forced_tool=_gemini_forced,
    system=_gemini_system,
    turns=lambda body: [
        ("assistant" if c["role"] == "model" else c["role"], _dumps(c["parts"])) for c in body["contents"]
    ],
)


# --- Bedrock ------------------------------------------------------------------------------------------------


def _bedrock_tool(answer: str, i: int, o: int) -> Reply:
    use = ToolUse("tooluse_so", TOOL, json.loads(answer))
    return json_reply(converse_response(None, tool_uses=[use], usage=converse_usage(i, o)))


def _bedrock_native(body: Any) -> Any:
    fmt = (body.get("outputConfig") or {}).get("textFormat") or {}
    schema = ((fmt.get("structure") or {}).get("jsonSchema") or {}).get("schema")
    return json.loads(schema) if isinstance(schema, str) else schema


def _bedrock_forced(body: Any) -> str | None:
    choice = (body.get("toolConfig") or {}).get("toolChoice") or {}
    return (choice.get("tool") or {}).get("name")


def _bedrock_wire(name: str, model: str) -> Wire:
    return Wire(
        name=name,
        provider="bedrock",
        model=model,
        path=converse_path(model),
        stream_path=converse_path(model, stream=True),
        provider_config=_bedrock,
        text=lambda t, i, o: json_reply(converse_response(t, usage=converse_usage(i, o))),
        tool=_bedrock_tool,
        stream_text=lambda pieces: stream_reply(converse_stream(tuple(pieces))),
        stream_tool=lambda t: stream_reply(converse_stream((), tool_uses=[ToolUse("tooluse_so", TOOL, json.loads(t))])),
        native_schema=_bedrock_native,
        forced_tool=_bedrock_forced,
        system=lambda body: "".join(b.get("text", "") for b in body.get("system") or []),
        turns=lambda body: [(m["role"], _dumps(m["content"])) for m in body["messages"]],
    )


BEDROCK = _bedrock_wire("bedrock", "anthropic.claude-sonnet-4-x-v1:0")
BEDROCK_LLAMA = _bedrock_wire("bedrock-llama", LLAMA)

NATIVE_WIRES = (ANTHROPIC, OPENAI, GEMINI, BEDROCK)
ALL_WIRES = (ANTHROPIC, OPENAI, VLLM, GROQ, GEMINI, BEDROCK)
