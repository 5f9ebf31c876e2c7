"""OpenAI-compatible services as ready-made provider kinds (`groq`, `mistral`, ..., `ollama`, `vllm`).

Each is the openai provider with a default `network_config.base_url` and `max_tokens_field`; configure one like
`"groq": {"keys": [{"value": "env.GROQ_API_KEY"}]}` and call it as `groq/<model>`.
"""

from __future__ import annotations

from typing import cast

from gateway import hookimpl
from gateway.api import Provider, ProviderRegistry

from .preset import Preset, preset_provider

# base_url is what precedes /v1/chat/completions. max_tokens_field: the field each service documents today.
PRESETS: tuple[Preset, ...] = (
    Preset("groq", "https://api.groq.com/openai", "max_completion_tokens"),
    Preset("mistral", "https://api.mistral.ai", "max_tokens"),
    Preset("deepseek", "https://api.deepseek.com", "max_tokens"),
    Preset("xai", "https://api.x.ai", "max_completion_tokens"),
    Preset("openrouter", "https://openrouter.ai/api", "max_tokens", cache_markers=True),
    Preset("together", "https://api.together.xyz", "max_tokens"),
    Preset("fireworks", "https://api.fireworks.ai/inference", "max_tokens"),
    Preset("cerebras", "https://api.cerebras.ai", "max_completion_tokens"),
    Preset("ollama", "http://127.0.0.1:11434", "max_tokens", requires_keys=False),
    Preset("vllm", "http://127.0.0.1:8000", "max_tokens", requires_keys=False),
)


@hookimpl
def gw_register_providers(registry: ProviderRegistry) -> None:
    for preset in PRESETS:
        # The cast: OpenAIProvider's `dialect`/`options_type` lack ClassVar, which the Provider protocol wants.
        registry.add(cast("type[Provider]", preset_provider(preset)))
