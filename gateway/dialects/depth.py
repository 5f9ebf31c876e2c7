"""Where a JSON body nests too deeply, for the 400 that refuses it.

msgspec gives up near 1,000 levels with a RecursionError that says nothing of where; this scans the bytes once,
only on that failure path, keeping the keys and indices of the open containers, and names the place where
nesting first passes `limit` (so `output_config.format.schema.properties.a.properties.a...` says which field of
the request was too deep). A linear pass with a bounded stack: a hostile body costs no more than reading it.
"""

from __future__ import annotations

SHOWN = 6  # path segments named before the "..." (the start says which field; the rest repeats)

_OPEN = {ord("{"), ord("[")}
_CLOSE = {ord("}"), ord("]")}
_QUOTE, _BACKSLASH, _COMMA = ord('"'), ord("\\"), ord(",")


def too_deep_at(body: bytes, limit: int) -> tuple[str, int] | None:
    """(path, depth) of the first value nested deeper than `limit`, or None if nothing is (or it is not JSON)."""
    stack: list[str | int] = []  # per open container: the current key (object) or index (array)
    kinds: list[bool] = []  # True: object
    key = ""
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c == _QUOTE:
            end = _string_end(body, i)
            if end < 0:
                return None
            key = body[i + 1 : end].decode("utf-8", "replace")
            i = end + 1
            continue
        if c in _OPEN:
            if kinds and kinds[-1]:
                stack[-1] = key  # in an object, the value opened is the last string's (its key's)
            if len(kinds) >= limit:
                return _dotted(stack), len(kinds) + 1
            kinds.append(c == ord("{"))
            stack.append("" if c == ord("{") else 0)
        elif c in _CLOSE:
            if not kinds:
                return None
            kinds.pop()
            stack.pop()
        elif c == _COMMA and kinds and not kinds[-1]:
            index = stack[-1]
            stack[-1] = index + 1 if isinstance(index, int) else index
        i += 1
    return None


def _string_end(body: bytes, start: int) -> int:
    i = start + 1
    while True:
        i = body.find(b'"', i)
        if i < 0:
            return -1
        backslashes = 0
        while body[i - 1 - backslashes] == _BACKSLASH:
            backslashes += 1
        if backslashes % 2 == 0:
            return i
        i += 1


def _dotted(stack: list[str | int]) -> str:
    parts = [str(p) for p in stack]
    if len(parts) > SHOWN:
        return ".".join(parts[:SHOWN]) + "..."
    return ".".join(parts)
