"""Where auto-injected cache markers go, and putting them there: in the canonical request and, for a body relayed
as the client wrote it, in that body's JSON (so its unknown and beta fields stay as they were).

A spot is found on the canonical request; the relayed body is the same request in the same dialect (decoded from
it, message for message and block for block), so the spot's indexes address the same place in both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from msgspec import Struct, UnsetType
from msgspec.structs import replace

from gateway.api import MAX_CACHE_MARKERS, InjectionPoint, cache_markers
from gateway.api import anthropic as a

# Blocks a marker cannot go on (Anthropic refuses it on thinking blocks; empty text cannot be cached).
_UNMARKABLE = frozenset({"thinking", "redacted_thinking"})


class Spot(Struct, frozen=True):
    """system: `item` is the block; tools: the tool; message: the message and `block` its block."""

    location: Literal["system", "tools", "message"]
    item: int
    block: int = -1


def find_spots(req: a.MessagesRequest, points: Sequence[InjectionPoint]) -> list[Spot]:
    """The spots the points name, in their order, without those already marked or named twice, at most as many
    as the request has room for next to the client's own markers."""
    room = MAX_CACHE_MARKERS - cache_markers(req)
    spots: list[Spot] = []
    for point in points:
        if len(spots) >= room:
            break
        spot = _spot(req, point)
        if spot is not None and spot not in spots:
            spots.append(spot)
    return spots


def _spot(req: a.MessagesRequest, point: InjectionPoint) -> Spot | None:
    if point.location == "system":
        system = [a.ContentBlock(type="text", text=req.system)] if isinstance(req.system, str) else req.system
        blocks = system if isinstance(system, list) else []
        item = _pick(range(len(blocks)), point.index)
        return None if item is None or not _markable(blocks[item]) else Spot("system", item)
    if point.location == "tools":
        tools = req.tools if isinstance(req.tools, list) else []
        item = _pick(range(len(tools)), point.index)
        return None if item is None or not isinstance(tools[item].cache_control, UnsetType) else Spot("tools", item)
    chosen = [i for i, m in enumerate(req.messages) if point.role is None or m.role == point.role]
    item = _pick(chosen, point.index)
    if item is None:
        return None
    content = req.messages[item].content
    blocks = [a.ContentBlock(type="text", text=content)] if isinstance(content, str) else content
    block = next((j for j in range(len(blocks) - 1, -1, -1) if blocks[j].type not in _UNMARKABLE), None)
    return None if block is None or not _markable(blocks[block]) else Spot("message", item, block)


def _pick(items: Sequence[int], index: int) -> int | None:
    return items[index] if -len(items) <= index < len(items) else None


def _markable(block: a.ContentBlock) -> bool:
    blank = block.type == "text" and not (isinstance(block.text, str) and block.text.strip())
    return not blank and isinstance(block.cache_control, UnsetType)


# --- the canonical request ---------------------------------------------------------------------------------


def mark_request(req: a.MessagesRequest, spots: Sequence[Spot], control: a.CacheControl) -> a.MessagesRequest:
    for spot in spots:
        if spot.location == "system":
            system = [a.ContentBlock(type="text", text=req.system)] if isinstance(req.system, str) else req.system
            assert isinstance(system, list)
            req = replace(req, system=_marked(system, spot.item, control))
        elif spot.location == "tools":
            assert isinstance(req.tools, list)
            tools = list(req.tools)
            tools[spot.item] = replace(tools[spot.item], cache_control=control)
            req = replace(req, tools=tools)
        else:
            messages = list(req.messages)
            message = messages[spot.item]
            content = message.content
            blocks = [a.ContentBlock(type="text", text=content)] if isinstance(content, str) else content
            messages[spot.item] = replace(message, content=_marked(blocks, spot.block, control))
            req = replace(req, messages=messages)
    return req


def _marked(blocks: list[a.ContentBlock], index: int, control: a.CacheControl) -> list[a.ContentBlock]:
    out = list(blocks)
    out[index] = replace(out[index], cache_control=control)
    return out


# --- the relayed body (plain JSON values) ------------------------------------------------------------------


def mark_json(fields: dict[str, Any], spots: Sequence[Spot], control: dict[str, str]) -> None:
    """Mark the decoded top-level `fields` (system, tools, messages) of a relayed body in place."""
    for spot in spots:
        if spot.location == "system":
            fields["system"] = _json_blocks(fields["system"])
            fields["system"][spot.item]["cache_control"] = control
        elif spot.location == "tools":
            fields["tools"][spot.item]["cache_control"] = control
        else:
            message = fields["messages"][spot.item]
            message["content"] = _json_blocks(message["content"])
            message["content"][spot.block]["cache_control"] = control


def _json_blocks(content: Any) -> Any:
    return [{"type": "text", "text": content}] if isinstance(content, str) else content
