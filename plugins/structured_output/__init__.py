"""Structured output (`structured_output`): a request that asks for JSON matching a schema (Anthropic
`output_config.format` or the beta `output_format`, OpenAI `response_format`) gets an answer that validates
against that schema, whatever the provider, or a clear error.

Per attempted target (a fallback is asked afresh): the schema is checked and compiled once (a bad one is a 400
naming its path before any upstream call), the mode chosen (`modes.py`: native, tool or prompt) and the request
shaped for it (`shaping.py`). The answer is validated, repaired with more calls on the same target when it does not
validate (`answers.py`), streamed as it comes or held back and settled whole (`streams.py`). Headers:
`x-bf-structured-output` (the mode) and `x-bf-structured-output-attempts` (the answers it took).

Cost: a call that asks for no structured output pays a look at its output and its tools' strict flags (0.5 us for
20 tools, twice a call); streams of other calls stay byte relays (the stream transform is the call's own,
`ctx.transform_stream`).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway import CallContext, ChatCall, ChatResult, hookimpl
from gateway.api import anthropic as a

from .answers import Contract, settle
from .checks import Checker
from .shaping import Shape, shape
from .streams import stream_transform
from .tools import StrictTools

MODE = "x-bf-structured-output"
NAME = "structured_output"


@dataclass(slots=True)
class Shaping:
    """This call's contract (compiled on its first attempt) and how the attempt being made asks for it."""

    compiled: bool = False
    checker: Checker | None = None
    tools: StrictTools | None = None
    contract: Contract | None = None


@hookimpl
def gw_transform_request(call: ChatCall, ctx: CallContext) -> ChatCall | None:
    if call.output is None and not _strict_tools(call.request):
        return None
    state = ctx.state(Shaping)
    if not state.compiled:  # the 400s for a bad schema come here, on the first attempt, before any call
        state.checker = Checker.of(call.output) if call.output is not None else None
        state.tools = StrictTools.of(call.request)
        state.compiled = True
    shaped, how = (call, Shape("native")) if state.checker is None else shape(call, state.checker, ctx)
    state.contract = contract = Contract(state.checker, how, state.tools)
    ctx.set_header(MODE, how.mode if state.checker is not None else None)
    ctx.transform_stream(NAME, None)
    if call.stream:
        assert shaped.target is not None
        config = ctx.settings.providers[shaped.target.provider].structured_output
        buffered = config is not None and config.buffer_streams
        ctx.transform_stream(NAME, stream_transform(contract, ctx, buffered))
    return shaped


@hookimpl
async def gw_transform_response(call: ChatCall, result: ChatResult, ctx: CallContext) -> ChatResult | None:
    if call.output is None and not _strict_tools(call.request):
        return None
    contract = ctx.state(Shaping).contract
    return None if contract is None else await settle(call, result, ctx, contract)


def _strict_tools(request: a.MessagesRequest) -> bool:
    return isinstance(request.tools, list) and any(tool.strict is True for tool in request.tools)
