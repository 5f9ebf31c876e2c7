"""The `metrics` plugin's config (`plugins[] {"name": "metrics", "config": {...}}`)."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from gateway.api import ConfigStruct


class MetricsConfig(ConfigStruct, frozen=True):
    # Each label keeps the first this many distinct values it sees; a later new value is counted as "other", so
    # no caller (a model name, an x-bf-dim-* header) can grow the series without bound.
    label_value_limit: Annotated[int, Meta(ge=1, le=10_000)] = 100
    # Serve /metrics on a listener of its own (open, for a scraper on a private network) instead of the main
    # port (where it needs the admin token when governance has one). `--metrics-port` sets it too.
    port: Annotated[int, Meta(ge=0, le=65535)] | None = None
    host: str = "127.0.0.1"
