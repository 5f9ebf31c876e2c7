"""The guardrail's request hooks (registered only when it is enabled)."""

from __future__ import annotations

from msgspec.structs import replace

from gateway.api import CallContext, ChatCall, ChatResult, Chunk, PermissionDenied, hookimpl
from gateway.api import anthropic as a

from .config import PiiConfig
from .scrub import Scrubber, StreamText


class PiiHooks:
    def __init__(self, scrubber: Scrubber, config: PiiConfig) -> None:
        self._scrubber = scrubber
        self._config = config

    @hookimpl
    def gw_authorize(self, call: ChatCall) -> None:
        rule = self._scrubber.blocking_rule(call.request)
        if rule is not None:
            raise PermissionDenied(f"the request contains personal data ({rule.name}) and was not sent")

    @hookimpl
    def gw_transform_request(self, call: ChatCall) -> ChatCall | None:
        if not self._config.requests:
            return None
        request = self._scrubber.request(call.request)
        return None if request is None else replace(call, request=request)

    @hookimpl
    def gw_transform_response(self, result: ChatResult) -> ChatResult | None:
        if not self._config.responses:
            return None
        message = self._scrubber.message(result.message)
        return None if message is None else replace(result, message=message)

    @hookimpl
    def gw_transform_chunk(self, chunk: Chunk, ctx: CallContext) -> Chunk | None:
        if not self._config.responses or not chunk.events:
            return None
        held = ctx.state(StreamText)
        events: list[a.StreamEvent] = []
        for event in chunk.events:
            if isinstance(event, a.ContentBlockDelta) and isinstance(event.delta.text, str):
                text = held.delta(self._scrubber, event.index, event.delta.text)
                if text:
                    events.append(replace(event, delta=replace(event.delta, text=text)))
            elif isinstance(event, a.ContentBlockStop) and event.index in held.pending:
                if text := held.flush(self._scrubber, event.index):
                    delta = a.Delta(type="text_delta", text=text)
                    events.append(a.ContentBlockDelta(index=event.index, delta=delta))
                events.append(event)
            else:
                events.append(event)
        return replace(chunk, events=tuple(events))
