"""The two ways semantic mode turns a request's text into a vector.

- `RemoteEmbedder`: a configured provider's OpenAI-shape `POST /v1/embeddings` (`provider` + `embedding_model`).
- `LocalEmbedder` (`embedding_model: "local"`, no provider): WordLlama's `l2_supercat` model, whose weights and
  tokenizer ship inside the `wordllama` wheel (the `semantic` extra), so it loads with no network: no hub download,
  ever (`disable_download`). It is a static token-embedding model (average of token vectors), not a transformer:
  about 30 µs for a short question here, good at "same question, other words", weaker at negation and word order;
  a provider's model is the better judge when one is at hand.

Both answer None on failure: an embedding that fails is a miss, never a failed request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import msgspec

from gateway.api import Settings

log = logging.getLogger("gateway.semantic_cache")
WARN_EVERY = 60.0
DEFAULT_BASE_URLS = {"openai": "https://api.openai.com"}
# Past this many characters tokenizing grows faster than linearly (about 8 ms at 10,000 here, 235 ms at 100,000):
# longer texts are embedded on a worker thread, and texts past the cap are not looked up at all, because embedding
# only a prefix would make two long prompts that differ after it look identical.
INLINE_CHARS = 2_000
MAX_LOCAL_CHARS = 32_000


class Embedder(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def vector(self, text: str) -> list[float] | None: ...


class _Embedding(msgspec.Struct):
    embedding: list[float]


class _Embeddings(msgspec.Struct):
    data: list[_Embedding]


_DECODER = msgspec.json.Decoder(_Embeddings)


class _Warner:
    """One warning line a minute at most: a failing embedder must not flood the log."""

    def __init__(self) -> None:
        self._last = -WARN_EVERY

    def warn(self, what: str) -> None:
        now = time.monotonic()
        if now - self._last >= WARN_EVERY:
            self._last = now
            log.warning("response cache: embedding failed (%s); semantic lookup skipped", what)


class RemoteEmbedder:
    """Embeds through the configured provider, with its first key and base URL."""

    def __init__(self, settings: Settings, provider: str, model: str, dimension: int) -> None:
        config = settings.providers.get(provider)
        base = config.network_config.base_url if config is not None else None
        self._url = (base or DEFAULT_BASE_URLS.get(provider, "")).rstrip("/") + "/v1/embeddings"
        self._key = config.keys[0].value if config is not None and config.keys else ""
        self._model = model
        self._dimension = dimension
        self._session: aiohttp.ClientSession | None = None
        self._warner = _Warner()

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def vector(self, text: str) -> list[float] | None:
        if self._session is None:
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
        except Exception as exc:  # any failure is a miss, never a failed request
            self._warner.warn(type(exc).__name__)
            return None


def load_local(dimension: int) -> Any:
    """The bundled WordLlama model, from the wheel's own files only (its `cache_dir` is the package folder, where
    the wheel keeps `weights/` and `tokenizers/`), cut to `dimension`."""
    import wordllama

    package = Path(wordllama.__file__).parent
    trunc = None if dimension == 256 else dimension
    return wordllama.WordLlama.load(cache_dir=package, disable_download=True, trunc_dim=trunc)


class LocalEmbedder:
    def __init__(self, dimension: int) -> None:
        self._dimension = 256 if dimension <= 1 else dimension
        self._model: Any = None
        self._warner = _Warner()

    async def start(self) -> None:
        # About 0.4 s (16 MB of weights): off the event loop, once, at start-up.
        self._model = await asyncio.to_thread(load_local, self._dimension)

    async def close(self) -> None:
        self._model = None

    async def vector(self, text: str) -> list[float] | None:
        if self._model is None or len(text) > MAX_LOCAL_CHARS:
            return None
        try:
            if len(text) <= INLINE_CHARS:
                rows = self._model.embed([text])
            else:
                rows = await asyncio.to_thread(self._model.embed, [text])
            vector: list[float] = rows[0].tolist()
            return vector
        except Exception as exc:  # any failure is a miss, never a failed request
            self._warner.warn(type(exc).__name__)
            return None
