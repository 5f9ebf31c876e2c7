"""Request bodies for providers: the client's own bytes where they can be relayed, else the canonical encoding."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from ..call import ChatCall, NativeBody
from ..errors import InvalidRequest

_FIELDS = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ENCODER = msgspec.json.Encoder()


def relayable(call: ChatCall, dialect: str | None) -> bool:
    """True when the provider speaks the client's dialect and no plugin changed the request."""
    return call.native is not None and call.native.dialect == dialect


def relay_body(call: ChatCall, model: str, set_fields: dict[str, bytes] | None = None) -> bytes:
    """The client's body with `model` set to the upstream's name (and some top-level fields replaced).

    Values stay raw JSON, so every field the client sent, known to us or not, reaches the upstream byte-exact.
    """
    assert call.native is not None
    if model == call.model and not set_fields and call.fallbacks is None:
        return call.native.body
    try:
        fields = _FIELDS.decode(call.native.body)
    except (msgspec.DecodeError, RecursionError) as exc:  # e.g. invalid UTF-8 in a key the typed decode skipped
        raise InvalidRequest(f"request body is not valid JSON: {exc}") from None
    fields["model"] = msgspec.Raw(_ENCODER.encode(model))
    fields.pop("fallbacks", None)  # the gateway's own field: no upstream knows it
    for name, value in (set_fields or {}).items():
        fields[name] = msgspec.Raw(value)
    return _ENCODER.encode(fields)


def patch_native(native: NativeBody, fields: Mapping[str, Any]) -> NativeBody:
    """The client's body with some top-level fields set (any msgspec-encodable value) or removed (None); every
    other field stays byte-exact. For a plugin that changes a call's request and keeps it relayable."""
    try:
        body = _FIELDS.decode(native.body)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}") from None
    for name, value in fields.items():
        if value is None:
            body.pop(name, None)
        else:
            body[name] = msgspec.Raw(_ENCODER.encode(value))
    return NativeBody(dialect=native.dialect, body=_ENCODER.encode(body))
