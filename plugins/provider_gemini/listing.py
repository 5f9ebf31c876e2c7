"""GET {root}/models on the Gemini API, every page (`pageSize`, `pageToken`, `nextPageToken`): the models that
take generateContent (embedding and other models cannot serve a chat call), named as calls name them."""

from __future__ import annotations

from urllib.parse import urlencode

import msgspec
from msgspec import Struct

from gateway.api import NetworkConfig, UpstreamClient, UpstreamModel

from .errors import error_from_reply

PAGE_SIZE = 1000  # the API caps it lower (it says 1000 is the maximum; it answers fewer)
MAX_PAGES = 20  # a bound on an upstream that keeps handing out page tokens
GENERATES = "generateContent"


class _Model(Struct, frozen=True, rename="camel"):
    name: str  # models/gemini-2.5-flash
    display_name: str | None = None
    supported_generation_methods: list[str] = []


class _Page(Struct, frozen=True, rename="camel"):
    models: list[_Model] = []
    next_page_token: str | None = None


_PAGE = msgspec.json.Decoder(_Page)


async def gemini_models(
    http: UpstreamClient, root: str, headers: dict[str, str], network: NetworkConfig
) -> list[UpstreamModel]:
    models: list[UpstreamModel] = []
    query = {"pageSize": str(PAGE_SIZE)}
    for _ in range(MAX_PAGES):
        page = await http.fetch(
            f"{root}/models?{urlencode(query)}", headers, network, errors=error_from_reply, decode=_PAGE.decode,
            what="model list",
        )  # fmt: skip
        models += [
            UpstreamModel(id=m.name.removeprefix("models/"), name=m.display_name)
            for m in page.models
            if GENERATES in m.supported_generation_methods
        ]
        if not page.next_page_token:
            break
        query["pageToken"] = page.next_page_token
    return models
