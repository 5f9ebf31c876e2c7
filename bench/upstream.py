"""A minimal, fast fake LLM upstream for benchmarks.

Answers ``POST /v1/messages`` (Anthropic Messages) and ``POST /v1/chat/completions`` (OpenAI Chat), either
as one JSON body or, with ``"stream": true``, as an SSE stream of ``--chunks`` text deltas, in the real wire
shapes (shared/reference/api-spec.md sections 2, 3 and 5). ``GET /health`` answers 200 for readiness probes.

Responses are built once per (model, shape) and cached, so the upstream costs as little CPU as possible and
the benchmark measures what sits in front of it. Zero latency by default; ``--delay-ms`` sleeps between SSE
frames.

Run: ``python -m bench.upstream --port 9000 [--chunks 20] [--delay-ms 0] [--no-uvloop]``
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from typing import Any

import msgspec
from aiohttp import web

_CACHE_LIMIT = 64  # distinct (model, shape) entries; a benchmark uses a handful
_SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
_enc = msgspec.json.Encoder()


class _StreamOptions(msgspec.Struct):
    include_usage: bool = False


class _RequestView(msgspec.Struct):
    """Only the request fields the fake upstream looks at; everything else is skipped by the decoder."""

    model: str = "unknown"
    stream: bool = False
    stream_options: _StreamOptions | None = None


_dec = msgspec.json.Decoder(_RequestView)


def _parse(body: bytes) -> _RequestView:
    try:
        return _dec.decode(body)
    except msgspec.DecodeError as exc:
        raise web.HTTPBadRequest(text=f"invalid request body: {exc}") from exc


JSON_MODEL_PREFIX = "json-"  # a model named so is answered with json_document(), the structured-output bench's


def json_document(properties: int = 30, size: int = 2048) -> dict[str, str]:
    """A JSON object of `properties` string fields, about `size` bytes encoded (bench.structured_output's answer)."""
    width = max(1, size // properties - 12)
    return {f"field_{i:02d}": chr(ord("a") + i % 26) * width for i in range(properties)}


def _words(chunks: int, model: str = "") -> list[str]:
    if model.startswith(JSON_MODEL_PREFIX):  # the JSON document, in `chunks` pieces
        text = _enc.encode(json_document()).decode()
        step = -(-len(text) // chunks)
        return [text[i : i + step] for i in range(0, len(text), step)]
    return [f"word{i} " for i in range(chunks)]


# A model named `agent-N` calls AGENT_TOOL until the conversation holds N tool results (bench.mcp_agent).
AGENT_MODEL_PREFIX = "agent-"
AGENT_TOOL = "bench-lookup_00"


def _calls_left(model: str, body: bytes) -> bool:
    rounds = int(model.removeprefix(AGENT_MODEL_PREFIX) or 0)
    return body.count(b'"tool_result"') < rounds


def anthropic_tool_call(model: str) -> bytes:
    """An answer that calls AGENT_TOOL."""
    call = {"type": "tool_use", "id": "toolu_bench", "name": AGENT_TOOL, "input": {"query": "bench"}}
    return _enc.encode(
        {
            "id": "msg_01BenchUpstream",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [call],
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "usage": _anthropic_usage(10),
        }
    )


def _anthropic_usage(output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": 25,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "service_tier": "standard",
    }


def anthropic_message(model: str, chunks: int) -> bytes:
    """A complete Anthropic Message body whose text is the concatenation of the streamed deltas."""
    return _enc.encode(
        {
            "id": "msg_01BenchUpstream",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": "".join(_words(chunks, model)), "citations": None}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": _anthropic_usage(chunks),
        }
    )


def _event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + _enc.encode(data) + b"\n\n"


def anthropic_frames(model: str, chunks: int) -> list[bytes]:
    """message_start, content_block_start, N text deltas, content_block_stop, message_delta, message_stop."""
    start = msgspec.json.decode(anthropic_message(model, chunks))
    start.update(content=[], stop_reason=None, usage=_anthropic_usage(1))
    frames = [
        _event("message_start", {"type": "message_start", "message": start}),
        _event(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
    ]
    for word in _words(chunks, model):
        delta = {"type": "text_delta", "text": word}
        frames.append(_event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}))
    frames.append(_event("content_block_stop", {"type": "content_block_stop", "index": 0}))
    frames.append(
        _event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": chunks},
            },
        )
    )
    frames.append(_event("message_stop", {"type": "message_stop"}))
    return frames


def _openai_usage(chunks: int) -> dict[str, Any]:
    return {
        "prompt_tokens": 25,
        "completion_tokens": chunks,
        "total_tokens": 25 + chunks,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def openai_completion(model: str, chunks: int) -> bytes:
    """A complete chat.completion body."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(_words(chunks, model)),
        "refusal": None,
        "annotations": [],
    }
    return _enc.encode(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1730000000,
            "model": model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}],
            "usage": _openai_usage(chunks),
        }
    )


def openai_frames(model: str, chunks: int, include_usage: bool) -> list[bytes]:
    """Role chunk, N content chunks, finish chunk, optional usage chunk, then ``data: [DONE]``."""
    head = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1730000000, "model": model}

    def chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        body = {**head, "choices": choices, **extra}
        if include_usage and "usage" not in extra:
            body["usage"] = None  # the API sends an explicit null on every chunk but the last
        return b"data: " + _enc.encode(body) + b"\n\n"

    def choice(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}

    frames = [chunk([choice({"role": "assistant", "content": "", "refusal": None})])]
    frames.extend(chunk([choice({"content": word})]) for word in _words(chunks, model))
    frames.append(chunk([choice({}, "stop")]))
    if include_usage:
        frames.append(chunk([], usage=_openai_usage(chunks)))
    frames.append(b"data: [DONE]\n\n")
    return frames


class FakeUpstream:
    """Request handlers plus a small bounded cache of prebuilt response bytes."""

    def __init__(self, chunks: int, delay_ms: float) -> None:
        self.chunks = chunks
        self.delay = delay_ms / 1000.0
        self._cache: dict[tuple[str, str, bool], Any] = {}

    def _cached(self, key: tuple[str, str, bool], build: Callable[[], Any]) -> Any:
        value = self._cache.get(key)
        if value is None:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()  # a client sending ever-new model names must not grow memory
            value = self._cache[key] = build()
        return value

    async def messages(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        req = _parse(raw)
        if req.model.startswith(AGENT_MODEL_PREFIX) and not req.stream and _calls_left(req.model, raw):
            body = self._cached(("a-tool", req.model, False), lambda: anthropic_tool_call(req.model))
            return web.Response(body=body, content_type="application/json", headers={"request-id": "req_bench"})
        if req.stream:
            frames = self._cached(("a", req.model, True), lambda: anthropic_frames(req.model, self.chunks))
            return await self._stream(request, frames)
        body = self._cached(("a", req.model, False), lambda: anthropic_message(req.model, self.chunks))
        return web.Response(body=body, content_type="application/json", headers={"request-id": "req_bench"})

    async def chat(self, request: web.Request) -> web.StreamResponse:
        req = _parse(await request.read())
        if req.stream:
            usage = req.stream_options is not None and req.stream_options.include_usage
            frames = self._cached(("o", req.model, usage), lambda: openai_frames(req.model, self.chunks, usage))
            return await self._stream(request, frames)
        body = self._cached(("o", req.model, False), lambda: openai_completion(req.model, self.chunks))
        return web.Response(body=body, content_type="application/json", headers={"x-request-id": "req_bench"})

    async def _stream(self, request: web.Request, frames: list[bytes]) -> web.StreamResponse:
        resp = web.StreamResponse(headers=_SSE_HEADERS)
        await resp.prepare(request)
        for frame in frames:  # one write per frame, as a real upstream emits them
            if self.delay:
                await asyncio.sleep(self.delay)
            await resp.write(frame)
        await resp.write_eof()
        return resp

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})


def make_app(chunks: int = 20, delay_ms: float = 0.0, fail_status: int | None = None) -> web.Application:
    upstream = FakeUpstream(chunks, delay_ms)
    app = web.Application()
    if fail_status is None:
        app.router.add_post("/v1/messages", upstream.messages)
        app.router.add_post("/v1/chat/completions", upstream.chat)
    else:  # a provider that is down: every call fails with that status (bench/fallback.py)
        body = b'{"error":{"message":"bench upstream is failing","type":"server_error","code":null}}'

        async def fail(request: web.Request) -> web.Response:
            await request.read()
            return web.Response(status=fail_status, body=body, content_type="application/json")

        app.router.add_post("/v1/messages", fail)
        app.router.add_post("/v1/chat/completions", fail)
    app.router.add_get("/health", upstream.health)
    app.router.add_post("/v1/traces", _traces)  # an OTLP/HTTP sink for the gateway's spans (bench/otel.py)
    return app


async def _traces(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=b"", content_type="application/x-protobuf")  # an empty ExportTraceServiceResponse


def new_loop(use_uvloop: bool) -> asyncio.AbstractEventLoop:
    """A uvloop loop when asked for and installed, else the stdlib one."""
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunks", type=int, default=20, help="text deltas per response (default 20)")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="sleep between SSE frames (default 0)")
    parser.add_argument("--no-uvloop", action="store_true", help="use the stdlib event loop")
    parser.add_argument("--fail-status", type=int, default=None, help="answer every call with this error status")
    args = parser.parse_args(argv)
    web.run_app(
        make_app(args.chunks, args.delay_ms, args.fail_status),
        host=args.host,
        port=args.port,
        print=None,
        access_log=None,
        loop=new_loop(not args.no_uvloop),
    )


if __name__ == "__main__":
    main()
