"""Inference routes: decode in the route's dialect, run the engine, answer (JSON or SSE) in the same dialect."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import aclosing

import msgspec
from aiohttp import web

from ..answer import answer_headers, served_headers
from ..call import ChatCall, NativeBody
from ..context import CallContext
from ..dialects.base import ClientDialect, decode_json
from ..dialects.registry import ANTHROPIC, OPENAI
from ..errors import GatewayError, Overloaded
from ..keys import DRAIN, ENGINE, REDACTOR
from ..routing import check_model_name
from ..schemas import anthropic as a
from . import async_jobs
from .entry import read_body, start_call
from .middlewares import route_prefix
from .sse import SseStream

log = logging.getLogger("gateway.http")
_COUNT_ENCODER = msgspec.json.Encoder()


async def messages(request: web.Request) -> web.StreamResponse:
    return await _inference(request, ANTHROPIC, route_prefix(request))


async def chat_completions(request: web.Request) -> web.StreamResponse:
    return await _inference(request, OPENAI, route_prefix(request))


async def count_tokens(request: web.Request) -> web.Response:
    ctx = await start_call(request, route_prefix(request))
    body = await read_body(request)
    params = decode_json(a.COUNT_TOKENS_DECODER.decode, body)
    check_model_name(params.model)
    canonical = a.MessagesRequest(**{f: getattr(params, f) for f in params.__struct_fields__}, max_tokens=1)
    call = ChatCall(
        dialect="anthropic",
        stream=False,
        request=canonical,
        native=NativeBody(dialect="anthropic", body=body),
    )
    tokens = await request.app[ENGINE].count_tokens(call, ctx)
    return web.Response(
        body=_COUNT_ENCODER.encode(a.CountTokensResponse(input_tokens=tokens)),
        content_type="application/json",
    )


async def _inference(request: web.Request, dialect: ClientDialect, prefix: str) -> web.StreamResponse:
    ctx = await start_call(request, prefix)
    if async_jobs.POLL in request.headers:  # the body is whatever the SDK sends: it is not run again
        return await async_jobs.poll(request, dialect, ctx)
    call = dialect.decode_call(await read_body(request), request.headers, ctx.settings)
    if async_jobs.wants_async(request):
        return await async_jobs.submit(request, dialect, call, ctx)
    if call.stream:
        return await _stream(request, dialect, call, ctx)
    result = await request.app[ENGINE].complete(call, ctx)
    return web.Response(
        body=dialect.encode_result(call, result),
        content_type="application/json",
        headers=answer_headers(dialect, result, ctx),
    )


async def _stream(request: web.Request, dialect: ClientDialect, call: ChatCall, ctx: CallContext) -> web.StreamResponse:
    call, chunks = await request.app[ENGINE].stream(call, ctx)
    encoder = dialect.stream_encoder(call)
    sse = SseStream(request, {dialect.request_id_header: ctx.request_id, **served_headers(ctx)})
    deferred = ctx.defer_stream_headers  # a plugin holds chunks back: headers go with the first bytes
    failed: GatewayError | None = None  # before any byte of a deferred stream: answered as a plain HTTP error
    async with aclosing(chunks), request.app[DRAIN].stream():  # type: ignore[type-var]
        if not deferred:
            await sse.open()
        try:
            async for chunk in chunks:
                data = encoder.encode(chunk)
                if data:
                    if deferred:
                        deferred = await _open_late(sse, dialect, ctx)
                    await sse.write(data)
        except GatewayError as exc:
            if deferred:
                failed = exc  # nothing was sent: the client gets the error's status, as before any stream
            else:
                await sse.write(encoder.error(request.app[REDACTOR].error(exc)))
        except ConnectionResetError:
            log.info("client went away during stream %s", ctx.request_id)
        except asyncio.CancelledError:
            if not _drain_deadline(request):
                raise
            if deferred:
                deferred = await _open_late(sse, dialect, ctx)
            await sse.write(encoder.error(Overloaded("the gateway shut down before the stream ended; retry it")))
        except Exception:
            log.exception("stream %s failed", ctx.request_id)
            if deferred:
                deferred = await _open_late(sse, dialect, ctx)
            await sse.write(encoder.error(GatewayError("internal error in the gateway")))
        finally:
            if deferred and failed is None:  # nothing was sent (an empty stream, or the client left): it still ends
                with contextlib.suppress(ConnectionResetError):
                    await _open_late(sse, dialect, ctx)
            if failed is None:
                await sse.close()
    if failed is not None:
        raise failed
    return sse.response


def _drain_deadline(request: web.Request) -> bool:
    """Was the stream cancelled by the drain's deadline (it then ends with its error event, not cut)? The
    cancellation is taken back: the task goes on to write the event and close the stream."""
    task = asyncio.current_task()
    if not request.app[DRAIN].expired or task is None:
        return False
    task.uncancel()
    return True


async def _open_late(sse: SseStream, dialect: ClientDialect, ctx: CallContext) -> bool:
    """Send a deferred stream's headers as they are now, with those set while its chunks were held back (returns
    False: no longer deferred)."""
    sse.response.headers.update({dialect.request_id_header: ctx.request_id, **served_headers(ctx)})
    await sse.open()
    return False
