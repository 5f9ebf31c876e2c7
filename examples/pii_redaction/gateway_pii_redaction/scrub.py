"""Finding and hiding personal data in the canonical request, answer and stream (text blocks only: thinking
blocks are signed by the model, and changing them would make the next turn invalid)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from msgspec.structs import replace

from gateway.api import anthropic as a

from .config import Rule

# A stream's text is held back by this many characters, so that a match cut by a chunk boundary is still found
# whole (a piece of personal data longer than this could be split and leak).
HOLD = 128


class Scrubber:
    def __init__(self, rules: list[tuple[Rule, re.Pattern[str]]]) -> None:
        self._redact = [(pattern, rule.replacement or f"[{rule.name.upper()}]") for rule, pattern in rules
                        if rule.action == "redact"]  # fmt: skip
        self._block = [(rule, pattern) for rule, pattern in rules if rule.action == "block"]

    @property
    def patterns(self) -> list[re.Pattern[str]]:
        """What redaction looks for."""
        return [pattern for pattern, _ in self._redact]

    def text(self, text: str) -> str:
        for pattern, replacement in self._redact:
            text = pattern.sub(replacement, text)
        return text

    def blocking_rule(self, request: a.MessagesRequest) -> Rule | None:
        """The first block rule some text of the request matches."""
        texts = list(_texts(request))
        return next((rule for rule, pattern in self._block if any(pattern.search(t) for t in texts)), None)

    def request(self, request: a.MessagesRequest) -> a.MessagesRequest | None:
        """The request with its text redacted; None when nothing changed (the body then goes as it came)."""
        system = request.system
        if isinstance(system, str):
            system = self.text(system)
        elif isinstance(system, list):
            system = [self._block_text(b) for b in system]
        messages = [replace(m, content=self._content(m.content)) for m in request.messages]
        changed = replace(request, system=system, messages=messages)
        return None if changed == request else changed

    def message(self, message: a.Message) -> a.Message | None:
        content = [self._block_text(b) for b in message.content]
        return None if content == message.content else replace(message, content=content)

    def _content(self, content: str | list[a.ContentBlock]) -> str | list[a.ContentBlock]:
        return self.text(content) if isinstance(content, str) else [self._block_text(b) for b in content]

    def _block_text(self, block: a.ContentBlock) -> a.ContentBlock:
        if block.type == "text" and isinstance(block.text, str):
            return replace(block, text=self.text(block.text))
        if block.type == "tool_result" and isinstance(block.content, (str, list)):
            return replace(block, content=self._content(block.content))
        return block


@dataclass
class StreamText:
    """One stream's text held back per block (ctx.state), released redacted once no match can still grow."""

    pending: dict[int, str] = field(default_factory=dict)

    def delta(self, scrubber: Scrubber, index: int, text: str) -> str:
        buffer = self.pending.get(index, "") + text
        cut = len(buffer) - HOLD
        for pattern in scrubber.patterns:  # a match across the cut moves the cut to its start
            for match in pattern.finditer(buffer):
                if match.start() < cut < match.end():
                    cut = match.start()
        if cut <= 0:
            self.pending[index] = buffer
            return ""
        self.pending[index] = buffer[cut:]
        return scrubber.text(buffer[:cut])

    def flush(self, scrubber: Scrubber, index: int) -> str:
        return scrubber.text(self.pending.pop(index, ""))


def _texts(request: a.MessagesRequest) -> list[str]:
    found: list[str] = []
    if isinstance(request.system, str):
        found.append(request.system)
    elif isinstance(request.system, list):
        found += [b.text for b in request.system if isinstance(b.text, str)]
    for message in request.messages:
        if isinstance(message.content, str):
            found.append(message.content)
            continue
        for block in message.content:
            if isinstance(block.text, str):
                found.append(block.text)
            if isinstance(block.content, str):
                found.append(block.content)
            elif isinstance(block.content, list):
                found += [b.text for b in block.content if isinstance(b.text, str)]
    return found
