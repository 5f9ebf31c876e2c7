"""Which way a target is made to answer in the client's schema: `native`, `tool` or `prompt`.

First match wins: the provider's `structured_output` config (the model's own entry, then the provider's `mode`);
then the model catalog (no tool calling: `prompt`; structured output: `native` where the provider's wire has a
native field; none: `tool`); then the provider's kind. The kind rules are what is known of the upstreams that the
catalog does not say: Anthropic's models before Claude 4 have no `output_config.format`; an `openai` provider whose
base URL is not api.openai.com is an OpenAI-compatible server that may ignore `response_format` (vLLM, llama.cpp
and LM Studio honour parts of it, others answer prose); the presets are such servers; the mock's forced tool call
fills the schema in.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from gateway.api import Catalog, Settings, Target
from gateway.api import StructuredOutputMode as Mode

# Kinds whose translators write the provider's own structured-output field.
NATIVE_KINDS = frozenset({"anthropic", "openai", "azure", "gemini", "bedrock"})
OPENAI_HOSTS = frozenset({"api.openai.com"})
# Bedrock model families that take Converse's outputConfig.textFormat (its structured output).
BEDROCK_NATIVE = ("anthropic.", "amazon.nova")


def choose_mode(settings: Settings, catalog: Catalog | None, target: Target) -> Mode:
    config = settings.providers.get(target.provider)
    if config is not None and config.structured_output is not None:
        configured = config.structured_output.mode_for(target.model)
        if configured is not None:
            return configured
    kind = settings.upstream_kind(target.provider)
    info = catalog.lookup(target.provider, target.model) if catalog is not None else None
    if info is not None:
        if info.tool_call is False:
            return "prompt"
        if info.structured_output is True and kind in NATIVE_KINDS:
            return "native"
        if info.structured_output is False:
            return "tool"
    return _by_kind(settings, kind, target)


def _by_kind(settings: Settings, kind: str, target: Target) -> Mode:
    model = target.model
    if kind == "anthropic":
        return "tool" if model.startswith("claude-3") else "native"
    if kind == "openai":
        config = settings.providers.get(target.provider)
        base = config.network_config.base_url if config is not None else None
        return "native" if base is None or urlsplit(base).hostname in OPENAI_HOSTS else "tool"
    if kind in ("azure", "gemini"):
        return "native"
    if kind == "bedrock":
        return "native" if any(family in model for family in BEDROCK_NATIVE) else "tool"
    return "tool"  # mock, the presets, custom and third-party kinds: a forced tool call is the widest path
