"""The answer side: read the JSON out of an answer (as its mode left it), validate it, ask again when it does not
validate (up to `max_repair_attempts` more calls on the same target, each shown the invalid answer and the
validator's error), and give the client the valid JSON as a plain text answer, or a 502 that says what failed.

Answers passed on unchecked: a refusal (the model declined; its text is not JSON and no repair will change that),
and a turn that calls one of the client's own tools (not the final answer: the client has a tool to run). An
answer cut at `max_tokens` is a 502 at once: a repair would be cut at the same place.
"""

from __future__ import annotations

from dataclasses import dataclass

from msgspec.structs import replace

from gateway import CallContext, ChatCall, ChatResult
from gateway.api import UpstreamError, total_usage
from gateway.api import anthropic as a

from .checks import Checker, answer_text
from .prompting import repair_messages
from .shaping import Shape
from .tool_mode import answer_from_tool
from .tools import StrictTools, repair_request

ATTEMPTS = "x-bf-structured-output-attempts"
PASSED_ON = frozenset({"refusal", "pause_turn"})


@dataclass(frozen=True, slots=True)
class Verdict:
    """One answer read and checked: `message` is the answer to give (JSON as text) when `problem` is None."""

    message: a.Message
    text: str
    problem: str | None
    final: bool  # False: not the structured answer (a refusal, a client tool's turn): passed on unchecked


def judge(message: a.Message, checker: Checker, shape: Shape) -> Verdict:
    """The answer read as its mode left it, and checked against the structured output."""
    if message.stop_reason in PASSED_ON:
        return Verdict(message, "", None, final=False)
    answered = message
    if shape.plan is not None:
        from_tool = answer_from_tool(message, shape.plan)
        if from_tool is None and any(block.type == "tool_use" for block in message.content):
            return Verdict(message, "", None, final=False)  # a client tool's turn
        answered = from_tool or message  # no call of the tool: its text is read as the answer
    text = answer_text(answered, fenced=True)
    invalid = checker.check(text, shape.adapted)
    if invalid is not None:
        return Verdict(answered, text, invalid.describe(), final=True)
    clean = checker.normalized(text.strip(), shape.adapted)
    texts = [block.text for block in answered.content if block.type == "text"]
    if texts == [clean]:
        return Verdict(answered, clean, None, final=True)  # as it came: a relayed answer keeps its bytes
    return Verdict(_with_text(answered, clean), clean, None, final=True)


@dataclass(frozen=True, slots=True)
class Contract:
    """What this call's answers are held to: the structured output (None: strict tools only), how this attempt
    asked for it, and the client's strict tools (None: none)."""

    checker: Checker | None
    shape: Shape
    tools: StrictTools | None


async def settle(call: ChatCall, result: ChatResult, ctx: CallContext, contract: Contract) -> ChatResult:
    """The valid answer to a non-streamed call (repairing it if need be), or a 502."""
    checker, shape, tools = contract.checker, contract.shape, contract.tools
    repairs = _max_repairs(call, ctx)
    message, usages, attempts = result.message, [result.message.usage], 1
    while True:
        verdict = judge(message, checker, shape) if checker is not None else Verdict(message, "", None, False)
        problems = tools.problems(verdict.message) if tools is not None and verdict.problem is None else {}
        if verdict.problem is None and not problems:
            ctx.set_header(ATTEMPTS, str(attempts))
            if verdict.message is result.message:
                return result  # the first answer, unchanged: its bytes are relayed as they came
            return ChatResult(message=replace(verdict.message, usage=summed(usages)))
        if message.stop_reason == "max_tokens":
            raise UpstreamError(
                "the answer was cut at max_tokens before its JSON was complete: raise max_tokens", status=502
            )
        if attempts > repairs:
            raise UpstreamError(failure_message(checker, verdict.problem, problems, attempts), status=502)
        if verdict.problem is not None:
            request = repair_messages(call.request, verdict.text, verdict.problem, shape.plan)
        else:
            request = repair_request(call.request, verdict.message, problems)
        again = await ctx.call_target(replace(call, request=request))
        message, attempts = again.message, attempts + 1
        usages.append(message.usage)


def failure_message(checker: Checker | None, problem: str | None, tools: dict[str, str], attempts: int) -> str:
    """The 502's message: what failed and where, after how many answers."""
    if problem is not None and checker is not None:
        return checker.failure_message(problem, attempts)
    tries = "1 answer" if attempts == 1 else f"{attempts} answers"
    return f"a strict tool's input did not match its input_schema ({tries}): {'; '.join(tools.values())}"


def summed(usages: list[a.Usage]) -> a.Usage:
    """What every answer of the call used: what the client is billed for (what gw_record_usage is given), so what
    it is shown."""
    return total_usage(usages[0], usages[1:])


def _max_repairs(call: ChatCall, ctx: CallContext) -> int:
    assert call.target is not None
    config = ctx.settings.providers.get(call.target.provider)
    settings = config.structured_output if config is not None else None
    return settings.max_repair_attempts if settings is not None else 1


def _with_text(message: a.Message, text: str) -> a.Message:
    """The answer with its text blocks replaced by one holding `text` (where the first was), other blocks kept."""
    content: list[a.ContentBlock] = []
    placed = False
    for block in message.content:
        if block.type != "text":
            content.append(block)
        elif not placed:
            content.append(a.ContentBlock(type="text", text=text))
            placed = True
    if not placed:
        content.append(a.ContentBlock(type="text", text=text))
    return replace(message, content=content)
