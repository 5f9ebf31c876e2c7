"""The `otel` plugin's config (`plugins[] {"name": "otel", "config": {...}}`), Bifrost's names."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from msgspec import field

from gateway.api import ConfigStruct

TRACES_PATH = "/v1/traces"


class OtelConfig(ConfigStruct, frozen=True):
    """Where spans go: an OTLP/HTTP collector (`collector_url`, e.g. `http://127.0.0.1:4318`; a URL with no path
    gets OTLP's `/v1/traces`). `headers` go with every export (`env.` references allowed; their values are
    masked in logs like any secret). `trace_type`: Bifrost's names; every one gives the GenAI semantic
    conventions here (Bifrost's other two are "coming soon" there). `protocol`: only `http` (no gRPC client)."""

    collector_url: str = ""
    protocol: Literal["http"] = "http"
    trace_type: Literal["genai_extension", "vercel", "open_inference"] = "genai_extension"
    service_name: str = "llm-gateway"
    headers: dict[str, str] = field(default_factory=dict)
    tls_ca_cert: str = ""  # a CA bundle (PEM path) the collector's certificate is checked against
    forward_raw_request_response: bool = False  # accepted for Bifrost configs; no content is put in spans here

    def __post_init__(self) -> None:
        if self.collector_url:
            parts = urlsplit(self.collector_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"collector_url {self.collector_url!r} is not an http(s) URL with a host")

    @property
    def traces_url(self) -> str:
        """The export URL: `collector_url` as given, or with `/v1/traces` when it has no path."""
        if urlsplit(self.collector_url).path in ("", "/"):
            return self.collector_url.rstrip("/") + TRACES_PATH
        return self.collector_url
