"""The benchmark's yardstick: a bare aiohttp pass-through proxy.

It is the simplest proxy a competent engineer would write: one shared ``ClientSession``; every request is
forwarded with its method, path, query, body and the API-relevant headers to ``--upstream``; the status,
content type and body come back. Event streams are relayed chunk by chunk as they arrive, everything else is
read whole and returned. No parsing, no auth, no retries, no logging: whatever the gateway costs on top of
this is the price of its features.

Run: ``python -m bench.proxy --port 9001 --upstream http://127.0.0.1:9000 [--uvloop]``
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from bench.upstream import new_loop

# Request headers an LLM API cares about; hop-by-hop and host headers must not be copied verbatim.
_FORWARD_REQUEST = (
    "Content-Type",
    "Accept",
    "Authorization",
    "X-Api-Key",
    "Anthropic-Version",
    "Anthropic-Beta",
)
_FORWARD_RESPONSE = ("Cache-Control", "request-id", "x-request-id")

UPSTREAM = web.AppKey("upstream", str)
SESSION = web.AppKey("session", aiohttp.ClientSession)


async def _session_ctx(app: web.Application) -> AsyncIterator[None]:
    # One session (and so one keep-alive pool) for the whole process, per the aiohttp docs.
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
        app[SESSION] = session
        yield


async def forward(request: web.Request) -> web.StreamResponse:
    try:
        return await _relay(request)
    except aiohttp.ClientError as exc:  # upstream unreachable or broke off before the response started
        raise web.HTTPBadGateway(text=f"upstream error: {exc!r}") from exc


async def _relay(request: web.Request) -> web.StreamResponse:
    headers = {name: request.headers[name] for name in _FORWARD_REQUEST if name in request.headers}
    url = request.app[UPSTREAM] + request.rel_url.raw_path_qs
    body = await request.read()
    session = request.app[SESSION]
    async with session.request(request.method, url, data=body, headers=headers) as upstream:
        out_headers = {name: upstream.headers[name] for name in _FORWARD_RESPONSE if name in upstream.headers}
        content_type = upstream.headers.get("Content-Type", "application/octet-stream")
        out_headers["Content-Type"] = content_type
        if not content_type.startswith("text/event-stream"):
            return web.Response(status=upstream.status, body=await upstream.read(), headers=out_headers)
        resp = web.StreamResponse(status=upstream.status, headers=out_headers)
        await resp.prepare(request)
        async for chunk in upstream.content.iter_any():
            await resp.write(chunk)
        await resp.write_eof()
        return resp


def make_app(upstream: str) -> web.Application:
    app = web.Application(client_max_size=32 * 1024 * 1024)  # the Anthropic API's own request limit
    app[UPSTREAM] = upstream.rstrip("/")
    app.cleanup_ctx.append(_session_ctx)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="origin to forward to, e.g. http://127.0.0.1:9000")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    args = parser.parse_args(argv)
    web.run_app(
        make_app(args.upstream),
        host=args.host,
        port=args.port,
        print=None,
        access_log=None,
        loop=new_loop(args.uvloop),
    )


if __name__ == "__main__":
    main()
