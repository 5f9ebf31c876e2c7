"""The request side, per attempted target: the mode (modes.py) and the request it needs.

- `native`: the provider's own field carries the schema (the translators write it). An OpenAI-wire upstream that
  is sent a translated request gets `strict: true`, which OpenAI refuses for schemas with optional properties or
  open objects: those are sent in their strict form (every object closed, optional properties required and
  nullable; the nulls are dropped again before validating against the client's own schema and answering), and a
  schema that has no strict form (anyOf at the root, open maps, `allOf`, ...) falls back to `tool` mode, as does a
  stream that would need the strict form (its added nulls would reach the client before they could be dropped).
  A client's own OpenAI body relayed to an OpenAI-wire upstream is sent as the client wrote it.
- `tool`: one forced tool whose input schema is the client's (tool_mode.py).
- `prompt`: the schema in the system prompt (prompting.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
from msgspec.structs import replace

from gateway import CallContext, ChatCall
from gateway.api import CATALOG, StructuredOutputMode
from gateway.api import anthropic as a

from .checks import Checker
from .modes import choose_mode
from .prompting import to_prompt_mode
from .strict import openai_strict_ok, strict_for_openai
from .tool_mode import JSON_OBJECT_SCHEMA, ToolPlan, to_tool_mode


@dataclass(frozen=True, slots=True)
class Shape:
    """How this attempt asks for the structured output: what the answer side needs to read it back."""

    mode: StructuredOutputMode
    plan: ToolPlan | None = None  # tool mode: the synthetic tool
    adapted: bool = False  # native on OpenAI's wire with the schema in its strict form


def shape(call: ChatCall, checker: Checker, ctx: CallContext) -> tuple[ChatCall, Shape]:
    """The attempt's call as its target must be asked, and how it was asked."""
    assert call.target is not None
    mode = choose_mode(ctx.settings, ctx.app.get(CATALOG), call.target)
    if mode == "native":
        shaped = _native(call, checker, ctx)
        if shaped is not None:
            return shaped
        mode = "tool"
    output = checker.output
    if mode == "tool":
        schema = output.schema if output.schema is not None else JSON_OBJECT_SCHEMA
        request, plan = to_tool_mode(call.request, schema)
        return replace(call, request=request, native=None), Shape("tool", plan=plan)
    request = to_prompt_mode(call.request, output.schema, output.kind == "json_object")
    return replace(call, request=request, native=None), Shape("prompt")


def _native(call: ChatCall, checker: Checker, ctx: CallContext) -> tuple[ChatCall, Shape] | None:
    """Native as it can be sent, or None when the upstream's strict mode cannot take the schema."""
    assert call.target is not None
    if ctx.wire_dialect(call.target) != "openai" or checker.compiled is None:
        return call, Shape("native")
    if call.native is not None and call.native.dialect == "openai":
        return call, Shape("native")  # the client's own response_format, relayed as written
    if not isinstance(checker.schema, dict) or not openai_strict_ok(checker.schema):
        return None
    adapted = strict_for_openai(checker.schema)
    if adapted == checker.schema:
        return call, Shape("native")  # strict already: sent as the client wrote it
    if call.stream:
        return None  # the nulls the strict form adds would reach the client as they stream: tool mode instead
    request = _with_schema(call.request, msgspec.Raw(msgspec.json.encode(adapted)))
    return replace(call, request=request, native=None), Shape("native", adapted=True)


def _with_schema(request: a.MessagesRequest, schema: msgspec.Raw) -> a.MessagesRequest:
    """The request with its output format's schema replaced (wherever the client put the format)."""
    config = request.output_config
    if isinstance(config, a.OutputConfig) and isinstance(config.format, a.OutputFormat):
        return replace(request, output_config=replace(config, format=replace(config.format, schema=schema)))
    if isinstance(request.output_format, a.OutputFormat):
        return replace(request, output_format=replace(request.output_format, schema=schema))
    return request
