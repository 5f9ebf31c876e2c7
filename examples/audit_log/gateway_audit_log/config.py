"""The audit log's config (`plugins[].config` of the entry named "audit_log")."""

from __future__ import annotations

from gateway.api import ConfigStruct


class AuditConfig(ConfigStruct, frozen=True):
    path: str | None = None  # the JSON-lines file to append to; without one the plugin does nothing
