"""Agent mode on a stream: every round streams to the client as it comes, as one message.

The client gets the first round's message_start, then each round's text and thinking blocks as they arrive,
numbered on from the blocks it already has. Tool calls are held back until their round ends (only then is it
known whether the gateway runs them all); the gateway's calls are then shown or hidden (`rounds.after_own`), the
next round is opened with `ctx.stream_target`, and its message_start is dropped. The last round's message_delta,
with the usage of all rounds summed, and message_stop end the message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from msgspec.structs import replace

from gateway import CallContext, ChatCall, Chunk
from gateway.api import MessageAssembler, StreamWrapper, delta_usage, message_to_events, total_usage
from gateway.api import anthropic as a

from .rounds import Limits, Tools, after_own, decide, next_messages, run_all


class Relay:
    """One round's events as the client gets them: renumbered, tool calls held, the ending held."""

    def __init__(self, first_index: int, first_round: bool) -> None:
        self.assembler = MessageAssembler()
        self.next_index = first_index
        self._first_round = first_round
        self._held: set[int] = set()
        self._index: dict[int, int] = {}
        self.failed = False

    def events(self, events: Sequence[a.StreamEvent]) -> list[a.StreamEvent]:
        out: list[a.StreamEvent] = []
        for event in events:
            self.assembler.feed(event)
            if isinstance(event, a.ContentBlockStart):
                if event.content_block.type == "tool_use":
                    self._held.add(event.index)
                    continue
                self._index[event.index] = self.next_index
                self.next_index += 1
                out.append(replace(event, index=self._index[event.index]))
            elif isinstance(event, (a.ContentBlockDelta, a.ContentBlockStop)):
                if event.index not in self._held:
                    out.append(replace(event, index=self._index.get(event.index, event.index)))
            elif isinstance(event, a.MessageStart):
                if self._first_round:
                    out.append(event)
            elif not isinstance(event, (a.MessageDelta, a.MessageStop)):
                self.failed = self.failed or isinstance(event, a.StreamError)
                out.append(event)
        return out


def agent_stream(tools: Tools, bounds: Limits, ctx: CallContext) -> StreamWrapper:
    def wrap(call: ChatCall, chunks: AsyncIterator[Chunk]) -> AsyncIterator[Chunk]:
        return _rounds(call, chunks, tools, bounds, ctx)

    return wrap


async def _rounds(
    call: ChatCall, chunks: AsyncIterator[Chunk], tools: Tools, bounds: Limits, ctx: CallContext
) -> AsyncIterator[Chunk]:
    messages = call.request.messages
    usages: list[a.Usage] = []
    relay = Relay(0, first_round=True)
    try:
        for rounds in range(bounds.depth + 1):
            async for chunk in chunks:
                if out := relay.events(chunk.events):
                    yield Chunk(events=tuple(out))
            answer = relay.assembler.message()
            if answer is None or relay.failed:
                return  # cut short: the stream ends as the provider's did
            usages.append(answer.usage)
            decided = decide(answer, tools, rounds, bounds)
            outcomes = await run_all(decided.auto, tools) if decided.auto else []
            decided.ran(bounds)
            blocks = after_own(decided, outcomes, tools, bounds.visible) if decided.auto else _tool_uses(answer)
            if blocks:
                yield Chunk(events=tuple(_block_events(blocks, relay.next_index)))
            if not decided.goes_on:
                yield Chunk(events=_ending(decided.ending(answer), usages))
                return
            messages = next_messages(messages, answer, decided.auto, outcomes)
            await _close(chunks)
            chunks = await ctx.stream_target(replace(call, request=replace(call.request, messages=messages)))
            relay = Relay(relay.next_index + len(blocks), first_round=False)
    finally:
        await _close(chunks)


def _tool_uses(answer: a.Message) -> list[a.ContentBlock]:
    return [block for block in answer.content if block.type == "tool_use"]


def _block_events(blocks: list[a.ContentBlock], first_index: int) -> list[a.StreamEvent]:
    """`blocks` as stream events numbered from `first_index` (without the message's own start and end)."""
    events = message_to_events(a.Message(id="", model="", content=blocks, stop_reason=None))[1:-2]
    return [
        replace(event, index=event.index + first_index)
        if isinstance(event, (a.ContentBlockStart, a.ContentBlockDelta, a.ContentBlockStop))
        else event
        for event in events
    ]


def _ending(answer: a.Message, usages: list[a.Usage]) -> tuple[a.StreamEvent, ...]:
    usage = total_usage(usages[0], usages[1:])
    body = a.MessageDeltaBody(stop_reason=answer.stop_reason, stop_sequence=answer.stop_sequence)
    return (a.MessageDelta(delta=body, usage=delta_usage(usage)), a.MessageStop())


async def _close(chunks: AsyncIterator[Chunk]) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()
