"""GET /v1/models on OpenAI or an OpenAI-compatible server (the presets, custom providers). OpenAI's list has no
pages; some compatible servers answer a bare array (Together) or add a display `name` (OpenRouter)."""

from __future__ import annotations

import msgspec
from msgspec import Struct

from gateway.api import NetworkConfig, UpstreamClient, UpstreamModel

from .errors import error_from_reply


class _Model(Struct, frozen=True):
    id: str
    created: float | None = None
    name: str | None = None
    display_name: str | None = None


class _List(Struct, frozen=True):
    data: list[_Model]


_LIST = msgspec.json.Decoder(_List | list[_Model])


async def openai_models(
    http: UpstreamClient, url: str, headers: dict[str, str], network: NetworkConfig
) -> list[UpstreamModel]:
    listed = await http.fetch(url, headers, network, errors=error_from_reply, decode=_LIST.decode, what="model list")
    entries = listed.data if isinstance(listed, _List) else listed
    return [
        UpstreamModel(id=m.id, name=m.display_name or m.name, created=int(m.created) if m.created else None)
        for m in entries
    ]
