"""Fake upstreams that refuse what the real APIs refuse for a model: a small table of a few real models' limits,
written from the providers' documentation and kept apart from the gateway's catalog (a test of adaptation against
the catalog's own figures could not fail). Plug one into a FakeUpstream: `FakeUpstream(check=openai_checks())`.
A request for a model the table does not list is let through.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .fakes import Recorded, Reply
from .wire import openai_error

Check = Callable[[Recorded], Reply | None]


@dataclass(frozen=True)
class FakeModel:
    output_limit: int
    efforts: frozenset[str] = frozenset()  # reasoning_effort words taken; empty: the model does not reason
    temperature: bool = True  # takes temperature / top_p
    images: bool = True


LOW_HIGH = frozenset({"low", "medium", "high"})
OPENAI_MODELS: Mapping[str, FakeModel] = {
    "gpt-4o-mini": FakeModel(16384),
    "gpt-4o": FakeModel(16384),
    "gpt-3.5-turbo": FakeModel(4096, images=False),
    "o3": FakeModel(100000, LOW_HIGH, temperature=False),
    "o4-mini": FakeModel(100000, LOW_HIGH, temperature=False),
    "gpt-5": FakeModel(128000, LOW_HIGH | {"minimal"}, temperature=False),
    "gpt-5.1": FakeModel(128000, LOW_HIGH | {"none"}, temperature=False),
    "gpt-5.2": FakeModel(128000, LOW_HIGH | {"none", "xhigh"}, temperature=False),
}
ANTHROPIC_MODELS: Mapping[str, FakeModel] = {
    "claude-3-5-haiku-20241022": FakeModel(8192),
    "claude-3-haiku-20240307": FakeModel(4096),
    "claude-sonnet-4-5": FakeModel(64000, frozenset({"thinking"})),
    "claude-opus-4-1": FakeModel(32000, frozenset({"thinking"})),
}
GEMINI_MODELS: Mapping[str, FakeModel] = {
    "gemini-2.0-flash": FakeModel(8192),
    "gemini-2.5-flash": FakeModel(65536, frozenset({"thinking"})),
}


def openai_checks(models: Mapping[str, FakeModel] = OPENAI_MODELS) -> Check:
    """Chat Completions' 400s: an output cap over the model's limit, reasoning_effort for a model that does not
    reason or a word it does not take, temperature for a reasoning model, a `user` over 64 characters, images
    for a text-only model, a system message not first is fine (the real API takes it)."""

    def check(request: Recorded) -> Reply | None:
        body = request.json
        model = models.get(body.get("model", "")) if isinstance(body, dict) else None
        if model is None:
            return None
        problem = _openai_problem(body, model)
        return None if problem is None else _openai_400(*problem)

    return check


def _openai_problem(body: dict[str, Any], model: FakeModel) -> tuple[str, str] | None:
    for field in ("max_completion_tokens", "max_tokens"):
        cap = body.get(field)
        if isinstance(cap, int) and cap > model.output_limit:
            return field, (
                f"max_tokens is too large: {cap}. This model supports at most {model.output_limit} completion"
                " tokens, whereas you provided {cap}."
            )
    effort = body.get("reasoning_effort")
    if effort is not None and not model.efforts:
        return "reasoning_effort", "Unrecognized request argument supplied: reasoning_effort"
    if effort is not None and effort not in model.efforts:
        return "reasoning_effort", f"Unsupported value: 'reasoning_effort' does not support '{effort}' with this model."
    for field in ("temperature", "top_p"):
        if body.get(field) is not None and not model.temperature:
            return field, f"Unsupported parameter: '{field}' is not supported with this model."
    for field in ("user", "safety_identifier"):
        value = body.get(field)
        if isinstance(value, str) and len(value) > 64:
            return field, (
                f"Invalid '{field}': string too long. Expected a string with maximum length 64, but got a string"
                f" with length {len(value)} instead."
            )
    if not model.images and _has(body.get("messages"), "image_url"):
        return "messages", "Invalid content type. image_url is only supported by certain models."
    return None


def anthropic_checks(models: Mapping[str, FakeModel] = ANTHROPIC_MODELS) -> Check:
    """Messages' 400s: max_tokens over the model's limit, thinking for a model without it, a thinking budget
    not below max_tokens."""

    def check(request: Recorded) -> Reply | None:
        body = request.json
        model = models.get(body.get("model", "")) if isinstance(body, dict) else None
        if model is None:
            return None
        cap, thinking = body.get("max_tokens"), body.get("thinking")
        if isinstance(cap, int) and cap > model.output_limit:
            return _anthropic_400(
                f"max_tokens: {cap} > {model.output_limit}, which is the maximum allowed number of output tokens"
                f" for {body['model']}"
            )
        if isinstance(thinking, dict) and thinking.get("type") != "disabled":
            if not model.efforts:
                return _anthropic_400(f"'{body['model']}' does not support thinking.")
            budget = thinking.get("budget_tokens")
            if isinstance(budget, int) and isinstance(cap, int) and budget >= cap:
                return _anthropic_400("`max_tokens` must be greater than `thinking.budget_tokens`.")
        return None

    return check


def gemini_checks(models: Mapping[str, FakeModel] = GEMINI_MODELS) -> Check:
    """generateContent's 400s: maxOutputTokens over the model's limit, a thinking budget for a model without."""

    def check(request: Recorded) -> Reply | None:
        name = request.path.rsplit("/", 1)[-1].split(":", 1)[0]
        model = models.get(name)
        body = request.json
        if model is None or not isinstance(body, dict):
            return None
        config = body.get("generationConfig") or {}
        cap = config.get("maxOutputTokens")
        if isinstance(cap, int) and cap > model.output_limit:
            message = f"The maxOutputTokens ({cap}) is out of range: [1, {model.output_limit + 1})."
            return Reply.json({"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}, 400)
        if config.get("thinkingConfig") and not model.efforts:
            message = "Thinking is not supported for this model."
            return Reply.json({"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}, 400)
        return None

    return check


def _has(messages: Any, part_type: str) -> bool:
    for message in messages if isinstance(messages, list) else ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and any(isinstance(p, dict) and p.get("type") == part_type for p in content):
            return True
    return False


def _openai_400(param: str, message: str) -> Reply:
    body = openai_error("invalid_request_error", message, code="invalid_value", param=param)
    return Reply.json(body, 400, {"x-request-id": "req_fake_error"})


def _anthropic_400(message: str) -> Reply:
    return Reply.error(400, "invalid_request_error", message, dialect="anthropic")
