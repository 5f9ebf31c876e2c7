"""The request log's config (`plugins[].config` of the entry named "logging")."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from gateway.api import ConfigStruct


class LoggingConfig(ConfigStruct, frozen=True):
    path: str | None = None  # the SQLite file; None: logs.db in the app dir
    # Rows waiting to be written; a call that finds the queue full is not logged (counted and warned about),
    # so a slow disk never holds a request up.
    queue_size: Annotated[int, Meta(ge=1)] = 10_000
    batch_size: Annotated[int, Meta(ge=1, le=10_000)] = 2_000  # rows per INSERT transaction at most
    # How long the writer lets rows gather before a write (unless a batch is full): one transaction per call
    # would cost each call about 150 us of CPU; rows show up in /api/logs this much later (up to 5 times this
    # when the gateway is busy: rows keep gathering while they come fast, as bigger transactions cost less).
    flush_interval_in_seconds: Annotated[float, Meta(ge=0, le=60)] = 0.2
    purge_interval_in_seconds: Annotated[float, Meta(gt=0)] = 3600.0  # how often rows past retention go
