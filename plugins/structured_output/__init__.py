"""Structured output (`structured_output`): a request that asks for JSON matching a schema (Anthropic
`output_config.format` or the beta `output_format`, OpenAI `response_format`) gets an answer that validates
against that schema, whatever the provider, or a clear error.

Per attempted target (a fallback is asked afresh): the schema is checked and compiled once (a bad one is a 400
naming its path before any upstream call), the mode chosen (`modes.py`: native, tool or prompt) and the request
shaped for it (`shaping.py`). The answer is validated, repaired with more calls on the same target when it does not
validate (`answers.py`), streamed as it comes or held back and settled whole (`streams.py`). Headers:
`x-bf-structured-output` (the mode) and `x-bf-structured-output-attempts` (the answers it took).

Cost: a call that asks for no structured output pays one attribute check per hook; streams of other calls stay
byte relays (the stream transform is the call's own, `ctx.transform_stream`).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway import CallContext, ChatCall, ChatResult, hookimpl

from .answers import settle
from .checks import Checker
from .shaping import Shape, shape
from .streams import stream_transform

MODE = "x-bf-structured-output"
NAME = "structured_output"


@dataclass(slots=True)
class Shaping:
    """This call's contract and how the attempt being made asks for it."""

    checker: Checker | None = None
    shape: Shape | None = None


@hookimpl
def gw_transform_request(call: ChatCall, ctx: CallContext) -> ChatCall | None:
    if call.output is None:
        return None
    state = ctx.state(Shaping)
    if state.checker is None:
        state.checker = Checker.of(call.output)  # raises the 400 on the first attempt, before any call
    shaped, state.shape = shape(call, state.checker, ctx)
    ctx.set_header(MODE, state.shape.mode)
    ctx.transform_stream(NAME, None)
    if call.stream:
        config = ctx.settings.providers[shaped.target.provider].structured_output if shaped.target else None
        buffered = config is not None and config.buffer_streams
        ctx.transform_stream(NAME, stream_transform(state.checker, state.shape, ctx, buffered))
    return shaped


@hookimpl
async def gw_transform_response(call: ChatCall, result: ChatResult, ctx: CallContext) -> ChatResult | None:
    if call.output is None:
        return None
    state = ctx.state(Shaping)
    if state.checker is None or state.shape is None:
        return None
    return await settle(call, result, ctx, state.checker, state.shape)
