"""Semantic mode: the request's text embedded by a provider's OpenAI-shape `POST /v1/embeddings`, searched for
in the index of stored answers' vectors (`index.py`)."""

from __future__ import annotations

import logging
import time
from typing import Any

import aiohttp
import msgspec

from gateway import ChatCall
from gateway.api import Settings

from .index import Index

log = logging.getLogger("gateway.semantic_cache")
WARN_EVERY = 60.0
DEFAULT_BASE_URLS = {"openai": "https://api.openai.com"}


class _Embedding(msgspec.Struct):
    embedding: list[float]


class _Embeddings(msgspec.Struct):
    data: list[_Embedding]


_DECODER = msgspec.json.Decoder(_Embeddings)


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
    """Embeds through the configured provider (its first key and base URL) and keeps the index."""

    def __init__(self, settings: Settings, provider: str, model: str, dimension: int, max_entries: int) -> None:
        config = settings.providers.get(provider)
        base = config.network_config.base_url if config is not None else None
        self._url = (base or DEFAULT_BASE_URLS.get(provider, "")).rstrip("/") + "/v1/embeddings"
        self._key = config.keys[0].value if config is not None and config.keys else ""
        self._model = model
        self._dimension = dimension
        self.index = Index(max_entries)
        self._session: aiohttp.ClientSession | None = None
        self._last_warning = -WARN_EVERY

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def embed(self, call: ChatCall, exclude_system: bool) -> list[float] | None:
        """The request's vector, or None (and a warning a minute at most) when the provider fails."""
        text = request_text(call, exclude_system)
        if not text or self._session is None:
            return None
        body: dict[str, Any] = {"model": self._model, "input": text}
        if self._dimension > 1:
            body["dimensions"] = self._dimension
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        try:
            async with self._session.post(self._url, json=body, headers=headers) as resp:
                raw = await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"HTTP {resp.status}")
            vectors = _DECODER.decode(raw).data
            return vectors[0].embedding if vectors else None
        except Exception as exc:  # an embedding failure is a miss, never a failed request
            now = time.monotonic()
            if now - self._last_warning >= WARN_EVERY:
                self._last_warning = now
                log.warning("response cache: embedding failed (%s); semantic lookup skipped", type(exc).__name__)
            return None
