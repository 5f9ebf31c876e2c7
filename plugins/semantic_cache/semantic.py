"""Semantic mode: the request's text embedded (`embedders.py`: a provider's `POST /v1/embeddings`, or the local
model), searched for in the index of stored answers' vectors (`index.py`)."""

from __future__ import annotations

from typing import Any

from gateway import ChatCall
from gateway.api import Settings

from .config import SemanticCacheConfig
from .embedders import Embedder, LocalEmbedder, RemoteEmbedder
from .index import Index


def request_text(call: ChatCall, exclude_system: bool) -> str:
    """The text a request is compared by: its system prompt (unless excluded) and its messages' text."""
    request = call.request
    parts: list[str] = []
    if not exclude_system:
        parts += _texts(request.system)
    for message in request.messages:
        parts += [f"{message.role}: {text}" for text in _texts(message.content)]
    return "\n".join(parts)


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [block.text for block in content if isinstance(getattr(block, "text", None), str)]
    return []


class Semantic:
    """The configured embedder and the index of stored answers' vectors."""

    def __init__(self, embedder: Embedder, max_entries: int) -> None:
        self._embedder = embedder
        self.index = Index(max_entries)

    @classmethod
    def configured(cls, settings: Settings, config: SemanticCacheConfig) -> Semantic | None:
        """The semantic side `config` asks for, or None (direct mode only)."""
        if config.provider is not None and config.embedding_model:
            remote = RemoteEmbedder(settings, config.provider, config.embedding_model, config.dimension)
            return cls(remote, config.max_entries)
        if config.local:
            return cls(LocalEmbedder(config.dimension), config.max_entries)
        return None

    async def start(self) -> None:
        await self._embedder.start()

    async def close(self) -> None:
        await self._embedder.close()

    async def embed(self, call: ChatCall, exclude_system: bool) -> list[float] | None:
        """The request's vector, or None (a miss) when it has no text or the embedder fails."""
        text = request_text(call, exclude_system)
        return await self._embedder.vector(text) if text else None
