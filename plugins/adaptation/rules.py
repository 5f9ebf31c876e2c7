"""The adaptation rules: what one request must lose or change for one target's model to take it.

Each rule reads the call as it stands (`Adapting`), changes its canonical request and, for a body relayed to an
OpenAI-wire upstream as the client wrote it, the fields of that body; and says what it did (`Fired`), in both
dialects' words so that the client hears of its own parameter. Rules that only hold for a model the catalog
knows are skipped for any other: an unknown model gets the request as the client wrote it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType
from msgspec.structs import replace

from gateway.api import ChatCall, Dialect, InvalidRequest, ModelInfo
from gateway.api import anthropic as a

from .effort import nearest, openai_efforts

MIN_THINKING_BUDGET = 1024  # Anthropic's floor for budget_tokens
USER_LIMIT = 64  # OpenAI's limit on `user` / `safety_identifier`; longer ones are a 400
# OpenAI-wire kinds whose upstream takes a system message anywhere in the conversation; elsewhere (presets and
# custom providers: self-hosted servers' chat templates often insist on one leading system message) the system
# turns are moved to the front.
SYSTEM_ANYWHERE = frozenset({"openai", "azure"})


class Fired(msgspec.Struct, frozen=True):
    anthropic: str  # the parameter's name in the Anthropic dialect
    openai: str  # ... and in the OpenAI dialect
    why: str
    dropped: bool = True  # the client's value is lost or changed (refused under drop_unsupported_params: false)


class OpenAIFields(msgspec.Struct, frozen=True):
    """The few top-level fields of an OpenAI body that rules read (the rest is skipped by the decoder)."""

    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    reasoning_effort: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    user: str | None = None
    safety_identifier: str | None = None


_OPENAI_FIELDS = msgspec.json.Decoder(OpenAIFields)


@dataclass(eq=False)
class Adapting:
    call: ChatCall
    info: ModelInfo | None
    kind: str  # the target provider's kind; "custom" for a custom provider (whatever its base kind)
    wire: Dialect | None  # the dialect the target's upstream speaks (None: its own)
    request: a.MessagesRequest = field(init=False)
    fired: list[Fired] = field(default_factory=list)
    openai_patch: dict[str, Any] = field(default_factory=dict)  # relayed OpenAI body: field -> value (None: drop)
    _openai: OpenAIFields | None = None

    def __post_init__(self) -> None:
        self.request = self.call.request

    @property
    def model(self) -> str:
        target = self.call.target
        return f"{target.provider}/{target.model}" if target is not None else self.request.model

    @property
    def relayed_openai(self) -> OpenAIFields | None:
        """The client's OpenAI fields when its body goes to an OpenAI-wire upstream as written (decoded once)."""
        native = self.call.native
        if native is None or native.dialect != "openai" or self.wire != "openai":
            return None
        if self._openai is None:
            self._openai = _OPENAI_FIELDS.decode(native.body)
        return self._openai

    def fire(self, fired: Fired, **changes: Any) -> None:
        self.request = replace(self.request, **changes)
        self.fired.append(fired)


Rule = Callable[[Adapting], None]


def clamp_output(s: Adapting) -> None:
    """max_tokens (max_completion_tokens) above the model's output limit -> the limit."""
    limit = s.info.max_output_tokens if s.info else None
    cap = s.request.max_tokens
    if limit is None or not isinstance(cap, int) or cap <= limit:
        return
    fields = s.relayed_openai
    name = "max_tokens" if fields is not None and fields.max_tokens is not None else "max_completion_tokens"
    why = f"{cap} is over {s.model}'s output limit of {limit}"
    # A cap the gateway put in (the client set none) is ours to lower: not the client's parameter.
    s.fire(Fired("max_tokens", name, why, dropped=not s.call.max_tokens_defaulted), max_tokens=limit)
    if fields is not None:
        for present in ("max_tokens", "max_completion_tokens"):
            if getattr(fields, present) is not None:
                s.openai_patch[present] = limit
    thinking = s.request.thinking
    if isinstance(thinking, a.Thinking) and isinstance(thinking.budget_tokens, int) and thinking.budget_tokens >= limit:
        _fit_budget(s, thinking, limit)


def _fit_budget(s: Adapting, thinking: a.Thinking, cap: int) -> None:
    """Anthropic wants budget_tokens below max_tokens (and at least 1024): three quarters of the new cap go to
    thinking, or thinking goes when the cap leaves no room for it."""
    if cap <= MIN_THINKING_BUDGET:
        s.fire(Fired("thinking", "reasoning_effort", f"no room to think under an output cap of {cap}"), thinking=UNSET)
        return
    budget = max(MIN_THINKING_BUDGET, cap * 3 // 4)
    why = f"budget {thinking.budget_tokens} lowered below the output cap of {cap}"
    s.fire(Fired("thinking.budget_tokens", "reasoning_effort", why), thinking=replace(thinking, budget_tokens=budget))


def drop_reasoning(s: Adapting) -> None:
    """Thinking and effort for a model that does not reason."""
    if s.info is None or s.info.reasoning is not False:
        return
    why = f"{s.model} does not reason"
    fired = len(s.fired)
    thinking = s.request.thinking
    if isinstance(thinking, a.Thinking) and thinking.type != "disabled":
        s.fire(Fired("thinking", "reasoning_effort", why), thinking=UNSET)
    config = s.request.output_config
    if isinstance(config, a.OutputConfig) and isinstance(config.effort, str):
        s.fire(Fired("output_config.effort", "reasoning_effort", why), output_config=_without_effort(config))
    fields = s.relayed_openai
    if fields is not None and fields.reasoning_effort is not None:
        s.openai_patch["reasoning_effort"] = None
        if len(s.fired) == fired:  # e.g. "none", which has no canonical form
            s.fired.append(Fired("thinking", "reasoning_effort", why))


def map_effort(s: Adapting) -> None:
    """An effort word the OpenAI model does not take -> the nearest one it does (`max` -> `high`, ...)."""
    if s.wire != "openai" or s.info is None or not s.info.reasoning:
        return
    allowed = openai_efforts(_model_id(s))
    fields = s.relayed_openai
    if fields is not None and fields.reasoning_effort is not None and fields.reasoning_effort not in allowed:
        word = nearest(fields.reasoning_effort, allowed)
        s.openai_patch["reasoning_effort"] = word
        s.fired.append(Fired("thinking", "reasoning_effort", f"{fields.reasoning_effort!r} -> {word!r} for {s.model}"))
    config = s.request.output_config
    if isinstance(config, a.OutputConfig) and isinstance(config.effort, str) and config.effort not in allowed:
        word = nearest(config.effort, allowed)
        why = f"{config.effort!r} -> {word!r} for {s.model}"
        s.fire(Fired("output_config.effort", "reasoning_effort", why), output_config=replace(config, effort=word))


def drop_sampling(s: Adapting) -> None:
    """temperature, top_p and top_k for a model that takes none (OpenAI's reasoning models answer 400)."""
    if s.info is None or s.info.temperature is not False:
        return
    why = f"{s.model} takes no sampling parameters"
    for name in ("temperature", "top_p", "top_k"):
        if not isinstance(getattr(s.request, name), UnsetType):
            s.fire(Fired(name, name, why), **{name: UNSET})
    if (fields := s.relayed_openai) is not None:
        for name in ("temperature", "top_p"):
            if getattr(fields, name) is not None:
                s.openai_patch[name] = None


def refuse_media(s: Adapting) -> None:
    """Images or PDFs for a model that reads neither: a 400 before the upstream is paid for a refusal."""
    info = s.info
    if info is None or (info.accepts("image") and info.accepts("pdf")):
        return
    for i, message in enumerate(s.request.messages):
        if isinstance(message.content, str):
            continue
        for block in _blocks(message.content):
            kind = "image" if block.type == "image" else "pdf" if _is_pdf(block) else None
            if kind is not None and not info.accepts(kind):
                what = "images" if kind == "image" else "PDF documents"
                raise InvalidRequest(f"{s.model} does not read {what}; send text only", param=f"messages[{i}]")


def hoist_system(s: Adapting) -> None:
    """System turns after the first message -> the system prompt, for upstreams that want it first."""
    if s.wire != "openai" or s.kind in SYSTEM_ANYWHERE:
        return
    turns = [m for m in s.request.messages if m.role == "system"]
    if not turns:
        return
    texts = [] if isinstance(s.request.system, UnsetType) else [_text(s.request.system)]
    texts += [_text(m.content) for m in turns]
    messages = [m for m in s.request.messages if m.role != "system"]
    why = "system messages moved to the front"
    s.fire(
        Fired("system", "messages", why, dropped=False), system="\n\n".join(t for t in texts if t), messages=messages
    )


def shorten_user(s: Adapting) -> None:
    """A user id over OpenAI's 64 characters -> its SHA-256 (64 hex digits: still one stable id per user)."""
    if s.wire != "openai":
        return
    metadata = s.request.metadata
    if isinstance(metadata, a.Metadata) and isinstance(metadata.user_id, str) and len(metadata.user_id) > USER_LIMIT:
        why = f"{len(metadata.user_id)} characters, over {USER_LIMIT}: sent as its SHA-256"
        s.fire(Fired("metadata.user_id", "user", why), metadata=a.Metadata(user_id=_digest(metadata.user_id)))
    if (fields := s.relayed_openai) is not None:
        for name in ("user", "safety_identifier"):
            value = getattr(fields, name)
            if value is not None and len(value) > USER_LIMIT:
                s.openai_patch[name] = _digest(value)


# Reasoning goes before the cap is clamped: a thinking budget is fitted under the new cap only if it stays.
RULES: tuple[Rule, ...] = (refuse_media, drop_reasoning, map_effort, drop_sampling, clamp_output)
WIRE_RULES: tuple[Rule, ...] = (hoist_system, shorten_user)  # by the upstream's kind: for known and unknown models


def _model_id(s: Adapting) -> str:
    catalog_id = s.info.catalog_id if s.info else None
    return catalog_id.split("/", 1)[1] if catalog_id else s.call.target.model if s.call.target else ""


def _without_effort(config: a.OutputConfig) -> a.OutputConfig | UnsetType:
    return UNSET if isinstance(config.format, UnsetType) else replace(config, effort=UNSET)


def _blocks(content: list[a.ContentBlock]) -> list[a.ContentBlock]:
    """The blocks of a message, those inside tool results included."""
    out: list[a.ContentBlock] = []
    for block in content:
        out.append(block)
        if block.type == "tool_result" and isinstance(block.content, list):
            out.extend(block.content)
    return out


def _is_pdf(block: a.ContentBlock) -> bool:
    source = block.source
    if block.type != "document" or not isinstance(source, a.Source):
        return False
    return source.type in ("base64", "url", "file") and source.media_type in ("application/pdf", UNSET)


def _text(content: str | list[a.ContentBlock]) -> str:
    if isinstance(content, str):
        return content
    return "\n\n".join(b.text for b in content if b.type == "text" and isinstance(b.text, str))


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()
