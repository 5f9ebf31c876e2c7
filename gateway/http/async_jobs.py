"""Async inference over HTTP: `x-bf-async` / `x-bf-async-id` on the dialect routes, and the native job routes
(`/v1/async/messages`, `/v1/async/chat/completions`)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import msgspec
from aiohttp import web
from msgspec import UNSET, Raw, Struct, UnsetType

from ..call import ChatCall
from ..context import CallContext
from ..dialects.anthropic import forwarded_headers
from ..dialects.base import ClientDialect
from ..dialects.registry import ANTHROPIC, OPENAI
from ..errors import GatewayError, InvalidRequest, NotFound
from ..keys import JOBS
from ..stores.jobs import Job
from .entry import read_body, start_call
from .middlewares import route_prefix

SUBMIT = "x-bf-async"
POLL = "x-bf-async-id"
STATUS = "x-bf-async-status"
TTL = "x-bf-async-job-result-ttl"
MAX_TTL_S = 30 * 24 * 3600
_ENCODER = msgspec.json.Encoder()


class JobObject(Struct, kw_only=True):
    """The native routes' job object (Bifrost's shape)."""

    id: str
    status: str
    created_at: str
    completed_at: str | UnsetType = UNSET
    expires_at: str | UnsetType = UNSET
    status_code: int | UnsetType = UNSET
    result: Raw | UnsetType = UNSET
    error: Raw | UnsetType = UNSET


def wants_async(request: web.Request) -> bool:
    return request.headers.get(SUBMIT, "").strip().lower() in ("true", "1", "yes")


async def submit(request: web.Request, dialect: ClientDialect, call: ChatCall, ctx: CallContext) -> web.Response:
    """`x-bf-async: true` on a dialect route: store the job, answer at once in the route's own shape."""
    job = await _submit(request, dialect, call, ctx)
    body = dialect.pending_body(job.id, job.model, job.created_at)
    return web.Response(body=body, content_type="application/json", headers=_job_headers(job))


async def poll(request: web.Request, dialect: ClientDialect, ctx: CallContext) -> web.Response:
    """`x-bf-async-id` on a dialect route: the empty shape while it runs, then exactly the synchronous answer."""
    job = await _find(request, request.headers[POLL], dialect, ctx)
    if job.status in ("pending", "running"):
        body, status, headers = dialect.pending_body(job.id, job.model, job.created_at), 200, {}
    else:
        body, status = _result_body(job, dialect), job.result_status or 500
        headers = dict(job.result_headers)
    return web.Response(status=status, body=body, content_type="application/json", headers=headers | _job_headers(job))


async def native_submit_messages(request: web.Request) -> web.Response:
    return await _native_submit(request, ANTHROPIC)


async def native_submit_chat(request: web.Request) -> web.Response:
    return await _native_submit(request, OPENAI)


async def native_get_messages(request: web.Request) -> web.Response:
    return await _native_get(request, ANTHROPIC)


async def native_get_chat(request: web.Request) -> web.Response:
    return await _native_get(request, OPENAI)


async def _native_submit(request: web.Request, dialect: ClientDialect) -> web.Response:
    ctx = await start_call(request, route_prefix(request))
    call = dialect.decode_call(await read_body(request), request.headers, ctx.settings)
    job = await _submit(request, dialect, call, ctx)
    return _job_response(job, dialect, 202)


async def _native_get(request: web.Request, dialect: ClientDialect) -> web.Response:
    ctx = await start_call(request, route_prefix(request))
    job = await _find(request, request.match_info["job_id"], dialect, ctx)
    return _job_response(job, dialect, 202 if job.status in ("pending", "running") else 200)


async def _submit(request: web.Request, dialect: ClientDialect, call: ChatCall, ctx: CallContext) -> Job:
    if call.stream:
        raise InvalidRequest(
            "stream: true cannot be combined with async jobs; poll for the whole answer", param="stream"
        )
    _refuse_credentials(call)
    assert call.native is not None
    job = Job(
        id=str(uuid.uuid4()),  # 122 random bits: unguessable
        owner=ctx.principal.id if ctx.principal else "",
        principal=ctx.principal,
        dialect=dialect.name,
        route_prefix=ctx.route_prefix,
        model=call.model,
        body=call.native.body,
        headers=list(forwarded_headers(request.headers)),
        created_at=time.time(),
        ttl_s=_ttl(request, ctx),
    )
    return await request.app[JOBS].submit(job)


def _refuse_credentials(call: ChatCall) -> None:
    """A job stores the client's body until it runs; a credential the request brings would be stored with it."""
    servers = call.request.mcp_servers
    for index, server in enumerate(servers if isinstance(servers, list) else []):
        if isinstance(server.authorization_token, str) and server.authorization_token:
            raise InvalidRequest(
                "an async job cannot carry an MCP server's authorization_token (the gateway would have to store it"
                " until the job runs): send this request without x-bf-async",
                param=f"mcp_servers[{index}].authorization_token",
            )


async def _find(request: web.Request, job_id: str, dialect: ClientDialect, ctx: CallContext) -> Job:
    job = await request.app[JOBS].poll(job_id, ctx.principal.id if ctx.principal else "")
    if job.dialect != dialect.name:
        raise NotFound("job not found or expired")  # submitted on another dialect's route
    return job


def _ttl(request: web.Request, ctx: CallContext) -> int:
    value = request.headers.get(TTL)
    if value is None:
        return ctx.settings.client.async_job_result_ttl
    try:
        ttl = int(value.strip())
    except ValueError:
        ttl = 0
    if not 0 < ttl <= MAX_TTL_S:
        raise InvalidRequest(f"{TTL} must be a whole number of seconds between 1 and {MAX_TTL_S}, not {value!r}")
    return ttl


def _result_body(job: Job, dialect: ClientDialect) -> bytes:
    if job.result_body:
        return job.result_body
    error = GatewayError(job.error or "the job failed", status=job.result_status or 500)
    return dialect.error_body(error, job.id)


def _job_headers(job: Job) -> dict[str, str]:
    return {POLL: job.id, STATUS: job.status}


def _job_response(job: Job, dialect: ClientDialect, status: int) -> web.Response:
    finished = job.status in ("completed", "failed")
    body = JobObject(
        id=job.id,
        status=job.status,
        created_at=_iso(job.created_at),
        completed_at=_iso(job.completed_at) if job.completed_at else UNSET,
        expires_at=_iso(job.expires_at) if job.expires_at else UNSET,
        status_code=job.result_status if finished and job.result_status else UNSET,
        result=Raw(_result_body(job, dialect)) if job.status == "completed" else UNSET,
        error=Raw(_result_body(job, dialect)) if job.status == "failed" else UNSET,
    )
    return web.Response(
        status=status, body=_ENCODER.encode(body), content_type="application/json", headers=_job_headers(job)
    )


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")
