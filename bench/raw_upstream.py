"""The cheapest fake OpenAI upstream we can write: an asyncio protocol on uvloop answering every request with one
canned Chat Completions body, keep-alive, no HTTP framework.

bench/upstream.py (aiohttp) costs tens of microseconds of CPU a request. On this 2-core machine that CPU is taken
from the gateway under test, which hides how `--workers 2` scales. This one costs a few microseconds: with it and
`wrk` as the load generator (`python -m bench.workers --lean`), nearly both cores are left to the gateway.

It answers the shape the gateway's OpenAI provider reads (id, model, choices, usage) to any POST and a 200 to any
GET (the readiness probe); it does not check what it receives.

Run: ``python -m bench.raw_upstream --port 9000``
"""

from __future__ import annotations

import argparse
import asyncio

import msgspec

BODY = msgspec.json.encode(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-x",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi there"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
    }
)
ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(BODY)).encode()
    + b"\r\nConnection: keep-alive\r\n\r\n"
    + BODY
)
MAX_HEAD = 64 * 1024


class Upstream(asyncio.Protocol):
    """Parses only what framing needs (the head's end and Content-Length); pipelined requests are answered in
    order."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a TCP server's: uvloop's is no asyncio.Transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        answers = 0
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            length = _content_length(bytes(self.buffer[:end]))
            if len(self.buffer) < end + 4 + length:
                break
            del self.buffer[: end + 4 + length]
            answers += 1
        if len(self.buffer) > MAX_HEAD and self.transport is not None:
            self.transport.close()
        elif answers and self.transport is not None:
            self.transport.write(ANSWER * answers)


def _content_length(head: bytes) -> int:
    at = head.lower().find(b"content-length:")
    if at < 0:
        return 0
    return int(head[at + 15 : head.find(b"\r\n", at) if head.find(b"\r\n", at) > 0 else None].strip())


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Upstream, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.raw_upstream", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    try:
        import uvloop

        uvloop.run(serve(port))
    except ImportError:
        asyncio.run(serve(port))


if __name__ == "__main__":
    main()
