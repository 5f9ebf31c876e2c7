"""Compressed request bodies, inflated step by step under the size limit (never a decompression bomb).

aiohttp's own inflation is turned off (`auto_decompress` in `gateway.app`): it runs as bytes arrive, before any
limit applies. Here the compressed body is read whole (it is under the limit too), then inflated in bounded
steps, off the event loop (zlib releases the GIL), stopping with a 413 as soon as the output would pass the limit.
"""

from __future__ import annotations

import asyncio
import zlib

from ..errors import InvalidRequest, RequestTooLarge, UnsupportedMediaType

STEP = 1 << 20  # inflate at most this much output per step
# Inflations at once per app: each may hold up to the size limit in memory until it is refused or done.
CONCURRENT_INFLATIONS = 2
# zlib window bits: 16 + MAX_WBITS reads gzip, MAX_WBITS zlib-wrapped deflate, -MAX_WBITS raw deflate.
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


async def inflate(body: bytes, encoding: str, limit: int, slots: asyncio.Semaphore) -> bytes:
    """The body inflated; 413 beyond `limit` bytes, 400 if it is not valid, 415 for an encoding we do not read.
    `slots` bounds how many inflations run at once (and so the memory they can hold)."""
    wbits = _WBITS.get(encoding)
    if wbits is None:
        raise UnsupportedMediaType(f"Content-Encoding {encoding!r} is not supported; send gzip, deflate or none")
    async with slots:
        return await asyncio.to_thread(_inflate, body, wbits, limit)


def _inflate(body: bytes, wbits: int, limit: int) -> bytes:
    try:
        return _inflate_with(zlib.decompressobj(wbits), body, limit)
    except zlib.error:
        if wbits != zlib.MAX_WBITS:
            raise InvalidRequest("the request body is not valid gzip") from None
    try:  # "deflate" as many clients send it: raw deflate without the zlib wrapper
        return _inflate_with(zlib.decompressobj(-zlib.MAX_WBITS), body, limit)
    except zlib.error:
        raise InvalidRequest("the request body is not valid deflate") from None


def _inflate_with(inflater: zlib._Decompress, body: bytes, limit: int) -> bytes:
    out = bytearray()
    pending = body
    while pending:
        out += inflater.decompress(pending, STEP)
        if len(out) > limit:
            raise RequestTooLarge(f"the request body inflates to more than {limit} bytes")
        pending = inflater.unconsumed_tail
        if inflater.eof:
            break
    out += inflater.flush()  # what the last step left (at most a window's worth)
    if len(out) > limit:
        raise RequestTooLarge(f"the request body inflates to more than {limit} bytes")
    if not inflater.eof:
        raise zlib.error("truncated stream")
    return bytes(out)
