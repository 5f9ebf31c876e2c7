"""What a call is billed when the provider's own usage report is missing (budgets cannot be dodged by it).

A stream that ends early (the client left, the upstream broke or timed out) has no final usage: OpenAI reports
it only in the last chunk, Anthropic the output only in `message_delta`. It is billed (the rule in the README's
"Security" section):
- input: the provider's own count when it gave one (Anthropic's `message_start`), else the gateway's estimate of
  the prompt (`gateway.tokens.estimate`);
- output: the larger of the provider's count so far and the tokens of everything streamed, counted;
- the floor: a stream the upstream accepted is never billed less than its prompt.
A complete answer that reports no usage at all (some OpenAI-compatible servers) is billed the same way.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import msgspec
from msgspec import UnsetType
from msgspec.structs import replace

from .call import Chunk
from .schemas import anthropic as a
from .streaming import UsageTracker
from .tokens import count_text

# The text-bearing string fields of both wires' stream frames (Anthropic deltas; OpenAI deltas and tool calls).
_CONTENT = re.compile(
    rb'"(?:text|partial_json|thinking|content|arguments|reasoning_content|reasoning|refusal)":"([^"\\]*(?:\\.[^"\\]*)*)"'
)
_STRINGS = msgspec.json.Decoder(list[str])


class StreamAccount:
    """Follows a stream's usage events and, when asked to, keeps the text it carried (for billing an early end).

    On a relayed stream (`ChatCall.relay_stream`) the text is found in the frames' bytes by one regex per chunk
    (about 0.4 us a frame); otherwise it is read off the canonical events.
    """

    def __init__(self, relay: bool, keep_text: bool) -> None:
        self._tracker = UsageTracker()
        self._relay = relay
        self._keep = keep_text
        self._pieces: list[bytes] = []  # JSON-escaped text found in relayed frames
        self._texts: list[str] = []  # text of decoded delta events
        self.reported = False  # a message_delta came: the provider's final usage

    def feed(self, chunk: Chunk) -> None:
        if chunk.events:
            self._events(chunk.events)
        if self._keep and self._relay and chunk.frame:
            self._pieces += _CONTENT.findall(chunk.frame)

    def _events(self, events: tuple[a.StreamEvent, ...]) -> None:
        keep_deltas = self._keep and not self._relay
        for event in events:
            self._tracker.feed(event)
            if isinstance(event, a.MessageDelta):
                self.reported = True
            elif keep_deltas and isinstance(event, a.ContentBlockDelta):
                delta = event.delta
                for text in (delta.text, delta.partial_json, delta.thinking):
                    if isinstance(text, str):
                        self._texts.append(text)

    def usage(self, prompt_estimate: Callable[[], int]) -> a.Usage:
        """The usage to bill: the provider's, or the rule above when it reported none."""
        usage = self._tracker.usage
        if self.reported and usage.output_tokens > 0:
            return usage
        return unreported(usage, self._streamed_tokens(), prompt_estimate)

    def _streamed_tokens(self) -> int:
        texts = list(self._texts)
        if self._pieces:
            try:
                texts += _STRINGS.decode(b'["' + b'","'.join(self._pieces) + b'"]')
            except msgspec.DecodeError:  # a frame the regex cut badly: count the escaped text instead
                texts += [piece.decode(errors="replace") for piece in self._pieces]
        return count_text("".join(texts))


def message_usage(message: a.Message, prompt_estimate: Callable[[], int]) -> a.Usage:
    """A complete answer's usage; an answer that reports none is billed by the rule above."""
    usage = message.usage
    if usage.input_tokens or usage.output_tokens or not message.content:
        return usage
    texts = [text for b in message.content for text in _block_texts(b)]
    return unreported(usage, count_text("".join(texts)), prompt_estimate)


def total_usage(usage: a.Usage, more: list[a.Usage]) -> a.Usage:
    """A call's usage with that of the further upstream calls made for it (`CallContext.call_target`) added."""
    if not more:
        return usage
    total = replace(usage)
    for extra in more:
        total.input_tokens += extra.input_tokens
        total.output_tokens += extra.output_tokens
        total.cache_creation_input_tokens = (total.cache_creation_input_tokens or 0) + (
            extra.cache_creation_input_tokens or 0
        )
        total.cache_read_input_tokens = (total.cache_read_input_tokens or 0) + (extra.cache_read_input_tokens or 0)
        total.cache_creation = _creation_sum(total.cache_creation, extra.cache_creation)
    return total


def _creation_sum(
    first: a.CacheCreation | UnsetType, second: a.CacheCreation | UnsetType
) -> a.CacheCreation | UnsetType:
    if isinstance(second, UnsetType):
        return first
    if isinstance(first, UnsetType):
        return replace(second)
    return a.CacheCreation(
        ephemeral_5m_input_tokens=first.ephemeral_5m_input_tokens + second.ephemeral_5m_input_tokens,
        ephemeral_1h_input_tokens=first.ephemeral_1h_input_tokens + second.ephemeral_1h_input_tokens,
    )


def unreported(usage: a.Usage, streamed: int, prompt_estimate: Callable[[], int]) -> a.Usage:
    cached = (usage.cache_read_input_tokens or 0) + (usage.cache_creation_input_tokens or 0)
    input_tokens = usage.input_tokens if usage.input_tokens or cached else prompt_estimate()
    return replace(usage, input_tokens=input_tokens, output_tokens=max(usage.output_tokens, math.ceil(streamed)))


def _block_texts(block: a.ContentBlock) -> list[str]:
    texts = [t for t in (block.text, block.thinking) if isinstance(t, str)]
    if isinstance(block.input, msgspec.Raw):
        texts.append(bytes(block.input).decode(errors="replace"))
    return texts
