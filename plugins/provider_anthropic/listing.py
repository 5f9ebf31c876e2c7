"""GET /v1/models on an Anthropic upstream, every page (`limit`, `after_id`, `has_more`)."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

import msgspec
from msgspec import Struct

from gateway.api import NetworkConfig, UpstreamClient, UpstreamModel

from .errors import error_from_reply

PAGE_SIZE = 1000  # the API's largest page
MAX_PAGES = 20  # a bound on a misbehaving upstream that never says has_more: false


class _Model(Struct, frozen=True):
    id: str
    display_name: str | None = None
    created_at: str | None = None


class _Page(Struct, frozen=True):
    data: list[_Model]
    has_more: bool = False
    last_id: str | None = None


_PAGE = msgspec.json.Decoder(_Page)


async def anthropic_models(
    http: UpstreamClient, base: str, headers: dict[str, str], network: NetworkConfig
) -> list[UpstreamModel]:
    models: list[UpstreamModel] = []
    query: dict[str, str] = {"limit": str(PAGE_SIZE)}
    for _ in range(MAX_PAGES):
        page = await http.fetch(
            f"{base}/v1/models?{urlencode(query)}", headers, network, errors=error_from_reply, decode=_PAGE.decode,
            what="model list",
        )  # fmt: skip
        models += [UpstreamModel(id=m.id, name=m.display_name, created=_seconds(m.created_at)) for m in page.data]
        if not page.has_more or not page.last_id:
            break
        query["after_id"] = page.last_id
    return models


def _seconds(created_at: str | None) -> int | None:
    try:
        return int(datetime.fromisoformat(created_at).timestamp()) if created_at else None
    except ValueError:
        return None
