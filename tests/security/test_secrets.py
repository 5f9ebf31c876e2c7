"""No secret the gateway holds ever leaves it: not in an answer, a stream, a log line or a database row.

Every provider kind gets a canary key of its own (bedrock its three credentials, openai a credential-like extra
header, governance a virtual key and an admin token). Fake upstreams on 127.0.0.1 echo them back in every error
shape they have (JSON and plain-text bodies, errors before the first streamed byte, error events inside a stream),
and each test reads what the client got as raw bytes, every log record from DEBUG up, every row of the app dir's
SQLite files and the files' bytes. Each test also checks that the fake was called with the configured canary and
really sent it back, and that the error still says what went wrong, with [REDACTED] where the key was.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import sqlite3
import string
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anthropic
import openai
import pytest

from gateway.testing import (
    Answer,
    FakeUpstream,
    Http,
    Recorded,
    Reply,
    anthropic_error,
    anthropic_sse,
    openai_completion,
    openai_error,
    openai_error_frame,
    openai_sse,
    parse_sse,
    serve_gateway,
)
from tests.conftest import Gateway, MakeGateway
from tests.fakes import bedrock as bd
from tests.fakes import gemini as gm
from tests.http.anthropic_helpers import HI
from tests.http.openai_helpers import USER_HI

MASK = "[REDACTED]"
_RNG = random.Random(0x5EC2E7)  # canaries look random but are the same on every run
ALNUM = string.ascii_letters + string.digits
UPPER = string.ascii_uppercase + string.digits


def _rand(n: int, alphabet: str = ALNUM) -> str:
    return "".join(_RNG.choice(alphabet) for _ in range(n))


ANTHROPIC_KEY = "sk-ant-canary-" + _rand(48)
OPENAI_KEY = "sk-canary-" + _rand(48)
POOL_KEYS = ("sk-pool1-canary-" + _rand(32), "sk-pool2-canary-" + _rand(32))
AZURE_KEY = _rand(32, "0123456789abcdef")  # no common key shape: only the configured value can catch it
GEMINI_KEY = "AIzaSy" + _rand(33, ALNUM + "-_")
AWS_ACCESS_KEY = "AKIA" + _rand(16, UPPER)
AWS_SECRET_KEY = _rand(40, ALNUM + "/+")
AWS_SESSION_TOKEN = "IQoJb3JpZ2luX2Vj" + _rand(96, ALNUM + "/+") + "=="
GROQ_KEY = "gsk_" + _rand(52)
HEADER_SECRET = "hdr-canary-" + _rand(32)
VIRTUAL_KEY = "sk-bf-" + _rand(40)
VK_HASH = hashlib.sha256(VIRTUAL_KEY.encode()).hexdigest()
ADMIN_TOKEN = "adm-canary-" + _rand(32)
VK_HASH_NAME = "virtual key sha256"
SECRETS: dict[str, str] = {
    "anthropic key": ANTHROPIC_KEY,
    "openai key": OPENAI_KEY,
    "pool key 1": POOL_KEYS[0],
    "pool key 2": POOL_KEYS[1],
    "azure key": AZURE_KEY,
    "gemini key": GEMINI_KEY,
    "aws access key": AWS_ACCESS_KEY,
    "aws secret key": AWS_SECRET_KEY,
    "aws session token": AWS_SESSION_TOKEN,
    "groq key": GROQ_KEY,
    "extra header secret": HEADER_SECRET,
    "virtual key": VIRTUAL_KEY,
    VK_HASH_NAME: VK_HASH,
    "admin token": ADMIN_TOKEN,
}
NEVER_UPSTREAM = ("virtual key", VK_HASH_NAME, "admin token")  # governance secrets stay in the gateway

MESSAGES = "/anthropic/v1/messages"
COUNT = "/anthropic/v1/messages/count_tokens"
CHAT = "/v1/chat/completions"
NATIVE_MESSAGES = "/v1/async/messages"
NATIVE_CHAT = "/v1/async/chat/completions"
ADMIN_KEYS = "/api/governance/virtual-keys"


# --- providers and their configuration ----------------------------------------------------------------------


@dataclass(frozen=True)
class Provider:
    name: str
    model: str
    path: str  # where the fake serves it
    wire: tuple[tuple[str, str], ...]  # (header, text it must hold): the canary is what the gateway sends
    stream_path: str = ""  # when streams go elsewhere

    def up(self, stream: bool) -> str:
        return self.stream_path if stream and self.stream_path else self.path


ANTHROPIC = Provider("anthropic", "anthropic/claude-x", "/v1/messages", (("x-api-key", ANTHROPIC_KEY),))
_OPENAI_WIRE = (("authorization", f"Bearer {OPENAI_KEY}"), ("x-custom-api-key", HEADER_SECRET))
OPENAI = Provider("openai", "openai/gpt-x", "/v1/chat/completions", _OPENAI_WIRE)
AZURE = Provider("azure", "azure/gpt-4o", "/openai/deployments/prod-4o/chat/completions", (("api-key", AZURE_KEY),))
GEMINI = Provider("gemini", "gemini/gemini-x", gm.generate_path(), (("x-goog-api-key", GEMINI_KEY),), gm.stream_path())
_AWS_WIRE = (("authorization", f"Credential={AWS_ACCESS_KEY}/"), ("x-amz-security-token", AWS_SESSION_TOKEN))
BEDROCK = Provider(
    "bedrock", f"bedrock/{bd.BEDROCK_MODEL}", bd.converse_path(), _AWS_WIRE, bd.converse_path(stream=True)
)
GROQ = Provider("groq", "groq/llama-x", "/groq/v1/chat/completions", (("authorization", f"Bearer {GROQ_KEY}"),))
POOL = Provider("openai-pool", "openai-pool/gpt-x", "/pool/v1/chat/completions", ())  # two keys: see its test


def gateway_config(url: str) -> dict[str, Any]:
    """Every provider kind on the fake (distinct paths), governance with one virtual key required on every call."""
    aws = {"access_key": AWS_ACCESS_KEY, "secret_key": AWS_SECRET_KEY, "session_token": AWS_SESSION_TOKEN}
    bedrock_key = {"region": bd.REGION, **aws}
    azure_key = {"endpoint": url, "deployments": {"gpt-4o": "prod-4o"}}
    openai_net = {"base_url": url, "extra_headers": {"x-custom-api-key": HEADER_SECRET}}
    providers: dict[str, Any] = {
        "anthropic": {"keys": [{"name": "a", "value": ANTHROPIC_KEY}], "network_config": {"base_url": url}},
        "openai": {"keys": [{"name": "o", "value": OPENAI_KEY}], "network_config": openai_net},
        "azure": {"keys": [{"name": "az", "value": AZURE_KEY, "azure_key_config": azure_key}]},
        "gemini": {"keys": [{"name": "g", "value": GEMINI_KEY}], "network_config": {"base_url": url}},
        "bedrock": {
            "keys": [{"name": "b", "value": "", "bedrock_key_config": bedrock_key}],
            "network_config": {"base_url": url},
        },
        "groq": {"keys": [{"name": "q", "value": GROQ_KEY}], "network_config": {"base_url": url + "/groq"}},
        "openai-pool": {
            "custom_provider_config": {"base_provider_type": "openai"},
            "keys": [{"name": f"p{i}", "value": key} for i, key in enumerate(POOL_KEYS)],
            "network_config": {"base_url": url + "/pool"},
        },
    }
    virtual_key = {
        "id": "vk-sec",
        "name": "sec",
        "value": VIRTUAL_KEY,
        "provider_configs": [{"provider": name, "allowed_models": ["*"]} for name in providers],
    }
    governance = {"virtual_keys": [virtual_key], "auth_config": {"admin_token": ADMIN_TOKEN}}
    return {"providers": providers, "governance": governance, "client": {"enforce_auth_on_inference": True}}


# --- what the fake echoes -------------------------------------------------------------------------------------

REFUSED = (502, "api_error")  # 401/403 (and Gemini's invalid key): every key refused
BAD = (400, "invalid_request_error")
SLOW = (429, "rate_limit_error")


def _echo_headers(secret: str) -> dict[str, str]:
    return {"x-upstream-debug": f"key={secret}", "request-id": "req_up", "x-request-id": "req_up"}


def openai_reply(status: int, message: str, secret: str, code: str | None = None) -> Reply:
    return Reply.json(openai_error("invalid_request_error", message, code=code), status, _echo_headers(secret))


@dataclass(frozen=True)
class Echo:
    """An upstream error answer echoing `secret`; the status, type and masked text an Anthropic client must get."""

    provider: Provider
    secret: str
    reply: Reply
    status: int
    kind: str
    said: str  # the upstream's message with [REDACTED] for the key


def a_echo(status: int, kind: str, text: str, expect: tuple[int, str]) -> Echo:
    message = text.format(key=ANTHROPIC_KEY)
    reply = Reply.json(anthropic_error(kind, message), status, _echo_headers(ANTHROPIC_KEY))
    return Echo(ANTHROPIC, ANTHROPIC_KEY, reply, *expect, text.format(key=MASK))


def o_echo(provider: Provider, secret: str, status: int, text: str, expect: tuple[int, str]) -> Echo:
    reply = openai_reply(status, text.format(key=secret), secret, str(status))
    return Echo(provider, secret, reply, *expect, text.format(key=MASK))


def g_echo(status: int, google: str, text: str, expect: tuple[int, str], reason: str | None = None) -> Echo:
    body = gm.gemini_error(status, google, text.format(key=GEMINI_KEY), reason=reason)
    return Echo(GEMINI, GEMINI_KEY, Reply.json(body, status, _echo_headers(GEMINI_KEY)), *expect, text.format(key=MASK))


def b_echo(secret: str, status: int, error_type: str, text: str, expect: tuple[int, str]) -> Echo:
    headers = {**bd.error_reply(status, error_type, "").headers, **_echo_headers(secret)}
    reply = Reply.json({"message": text.format(key=secret)}, status, headers)
    return Echo(BEDROCK, secret, reply, *expect, f"{error_type}: {text.format(key=MASK)}")


def html_echo(provider: Provider, secret: str, status: int) -> Echo:
    page = f"<html><body><h1>{status} Bad Gateway</h1><p>upstream refused credentials {{}}</p></body></html>"
    reply = Reply.raw(page.format(secret).encode(), status, content_type="text/html")
    return Echo(provider, secret, reply, status, "api_error", page.format(MASK))


ECHO: dict[str, Echo] = {
    "anthropic-401": a_echo(401, "authentication_error", "invalid x-api-key: {key}", REFUSED),
    "anthropic-400": a_echo(400, "invalid_request_error", "key {key} lacks this beta", BAD),
    "anthropic-429": a_echo(429, "rate_limit_error", "rate limit for {key}", SLOW),
    "anthropic-529": a_echo(529, "overloaded_error", "Overloaded ({key})", (529, "overloaded_error")),
    "anthropic-html-503": html_echo(ANTHROPIC, ANTHROPIC_KEY, 503),
    "openai-401": o_echo(OPENAI, OPENAI_KEY, 401, "Incorrect API key provided: {key}.", REFUSED),
    "openai-400": o_echo(OPENAI, OPENAI_KEY, 400, "Bad request for {key}", BAD),
    "openai-429": o_echo(OPENAI, OPENAI_KEY, 429, "Rate limit reached for {key}", SLOW),
    "openai-500": o_echo(OPENAI, OPENAI_KEY, 500, "The server had an error ({key})", (500, "api_error")),
    "openai-text-500": Echo(
        OPENAI,
        OPENAI_KEY,
        Reply.raw(f"Internal error; key={OPENAI_KEY}".encode(), 500),
        500,
        "api_error",
        f"key={MASK}",
    ),
    "openai-extra-header-400": o_echo(OPENAI, HEADER_SECRET, 400, "Unknown header x-custom-api-key: {key}", BAD),
    "azure-401": o_echo(AZURE, AZURE_KEY, 401, "Access denied due to invalid subscription key {key}.", REFUSED),
    "azure-429": o_echo(AZURE, AZURE_KEY, 429, "Key {key} is over its quota", SLOW),
    "gemini-400-key-invalid": g_echo(400, "INVALID_ARGUMENT", "API key not valid: {key}", REFUSED, "API_KEY_INVALID"),
    "gemini-403": g_echo(403, "PERMISSION_DENIED", "{key} is blocked", REFUSED),
    "gemini-429": g_echo(429, "RESOURCE_EXHAUSTED", "Quota of {key} exceeded", SLOW),
    "gemini-500": g_echo(500, "INTERNAL", "Internal error for {key}", (500, "api_error")),
    "gemini-html-500": html_echo(GEMINI, GEMINI_KEY, 500),
    "bedrock-403-session-token": b_echo(
        AWS_SESSION_TOKEN, 403, "UnrecognizedClientException", "The security token {key} is invalid.", REFUSED
    ),
    "bedrock-403-access-key": b_echo(AWS_ACCESS_KEY, 403, "AccessDeniedException", "{key} is not authorized", REFUSED),
    "bedrock-400-secret-key": b_echo(AWS_SECRET_KEY, 400, "ValidationException", "Signature of {key} differs", BAD),
    "bedrock-429": b_echo(AWS_ACCESS_KEY, 429, "ThrottlingException", "Too many requests from {key}", SLOW),
    "bedrock-text-502": html_echo(BEDROCK, AWS_SECRET_KEY, 502),
    "groq-401": o_echo(GROQ, GROQ_KEY, 401, "Invalid API Key {key}", REFUSED),
    "groq-html-500": html_echo(GROQ, GROQ_KEY, 500),
}

# Streams that start (a text delta "partial") and then carry an error echoing a key.
_ANTHROPIC_START = anthropic_sse(("partial",))[:4]  # message_start, content_block_start, ping, the text delta
_ANTHROPIC_ERROR = json.dumps({"type": "error", "error": {"type": "api_error", "message": f"boom {ANTHROPIC_KEY}"}})
_OPENAI_START = openai_sse(("partial",), done=False)[:2]  # the role chunk and the text chunk
_BEDROCK_START = bd.converse_stream(("partial",))[:2]  # messageStart and the text delta
_AWS_ERROR = {":message-type": "error", ":error-code": "InternalFailure", ":error-message": f"x {AWS_SESSION_TOKEN}"}
_GEMINI_ERROR = {"error": {"code": 500, "message": f"Internal error for {GEMINI_KEY}", "status": "INTERNAL"}}
_GEMINI_STREAM = Reply.sse(gm.gemini_sse([gm.gemini_chunk([gm.text_part("partial")]), _GEMINI_ERROR]))
_AWS_EXCEPTION = bd.exception_event("modelStreamErrorException", f"x {AWS_SECRET_KEY}")


def anthropic_stream(frame: str) -> Reply:
    return Reply.sse([*_ANTHROPIC_START, frame.format(error=_ANTHROPIC_ERROR).encode()])


def openai_stream(secret: str, prefix: str = "data: ") -> Reply:
    error = json.dumps({"error": {"message": f"x {secret}", "type": "server_error", "param": None, "code": None}})
    return Reply.sse([*_OPENAI_START, f"{prefix}{error}\n\n".encode()])


MID_STREAM = [
    pytest.param(ANTHROPIC, ANTHROPIC_KEY, anthropic_stream("event: error\ndata: {error}\n\n"), id="anthropic-event"),
    pytest.param(
        ANTHROPIC, ANTHROPIC_KEY, anthropic_stream("event:error\ndata:{error}\n\n"), id="anthropic-event-no-space"
    ),
    pytest.param(
        ANTHROPIC, ANTHROPIC_KEY, anthropic_stream("event: error\r\ndata: {error}\r\n\r\n"), id="anthropic-event-crlf"
    ),
    pytest.param(OPENAI, OPENAI_KEY, openai_stream(OPENAI_KEY), id="openai-chunk"),
    pytest.param(OPENAI, OPENAI_KEY, openai_stream(OPENAI_KEY, "data:"), id="openai-chunk-no-space"),
    pytest.param(AZURE, AZURE_KEY, openai_stream(AZURE_KEY), id="azure-chunk"),
    pytest.param(GROQ, GROQ_KEY, openai_stream(GROQ_KEY), id="groq-chunk"),
    pytest.param(GEMINI, GEMINI_KEY, _GEMINI_STREAM, id="gemini-chunk"),
    pytest.param(BEDROCK, AWS_SECRET_KEY, bd.stream_reply([*_BEDROCK_START, _AWS_EXCEPTION]), id="bedrock-exception"),
    pytest.param(
        BEDROCK,
        AWS_SESSION_TOKEN,
        bd.stream_reply([*_BEDROCK_START, bd.encode_message(_AWS_ERROR, b"")]),
        id="bedrock-error",
    ),
]


def sent_bytes(reply: Reply) -> bytes:
    """Everything the fake puts on the wire for a reply (headers too)."""
    headers = "".join(f"{k}: {v}\n" for k, v in reply.headers.items()).encode()
    return headers + reply.body + b"".join(reply.frames)


# --- finding secrets ------------------------------------------------------------------------------------------


def _forms(secret: str) -> set[str]:
    """The secret as written, JSON-escaped and URL-encoded."""
    return {secret, json.dumps(secret)[1:-1], quote(secret, safe="")}


def found(blob: str | bytes, secrets: Mapping[str, str] = SECRETS) -> list[str]:
    """`name: ...excerpt...` for every secret somewhere in `blob`."""
    text = blob.decode("utf-8", "replace") if isinstance(blob, bytes) else blob
    hits: list[str] = []
    for name, secret in secrets.items():
        for form in _forms(secret):
            if (at := text.find(form)) >= 0:
                hits.append(f"{name}: ...{text[max(at - 120, 0) : at + len(form) + 60]!r}...")
                break
    return hits


def log_texts(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    """What handlers would write for every record of the test (set-up included): message, traceback, stack."""
    texts = [("caplog.text", caplog.text)]
    for record in [*caplog.get_records("setup"), *caplog.get_records("call")]:
        exc_text = record.exc_text
        if exc_text is None and record.exc_info:
            exc_text = logging.Formatter().formatException(record.exc_info)
        text = "\n".join([record.getMessage(), exc_text or "", record.stack_info or ""])
        texts.append((f"log record {record.name} {record.levelname}", text))
    return texts


def db_cells(app_dir: Path) -> Iterator[tuple[str, str | bytes]]:
    """`("<file> <table>.<column>", value)` for every column of every row of every SQLite file in the app dir."""
    for path in sorted(app_dir.glob("*.db")):
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            for table in tables:
                cursor = connection.execute(f'SELECT * FROM "{table}"')
                columns = [d[0] for d in cursor.description]
                for row in cursor.fetchall():
                    for column, value in zip(columns, row, strict=True):
                        cell = value if isinstance(value, bytes) else str(value)
                        yield f"{path.name} {table}.{column}", cell
        finally:
            connection.close()


# --- the gateway and the client -------------------------------------------------------------------------------


@dataclass
class Env:
    gw: Gateway
    fake: FakeUpstream
    app_dir: Path
    caplog: pytest.LogCaptureFixture
    received: list[bytes] = field(default_factory=list)  # every byte the client got: head and body

    async def send(
        self, method: str, path: str, body: Any = None, headers: Mapping[str, str] | None = None, key: Any = VIRTUAL_KEY
    ) -> Answer:
        """The key as each SDK sends it: x-api-key (Anthropic) or Authorization: Bearer (OpenAI)."""
        anthropic_route = path.startswith(("/anthropic/", NATIVE_MESSAGES))
        async with Http(self.gw.url, key, bearer=not anthropic_route) as http:
            answer = await http.request(method, path, body, headers)
        head = "".join(f"{name}: {value}\r\n" for name, value in answer.headers.items())
        self.received.append(head.encode("utf-8", "surrogateescape") + b"\r\n" + answer.body)
        return answer

    async def post(self, path: str, body: Any, headers: Mapping[str, str] | None = None) -> Answer:
        return await self.send("POST", path, body, headers)


@pytest.fixture
async def env(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> Env:
    caplog.set_level(logging.DEBUG)  # before start-up: its records are checked too
    app_dir = tmp_path / "app"
    gw = await make_gateway(gateway_config(fake_upstream.url), app_dir=app_dir)
    return Env(gw, fake_upstream, app_dir, caplog)


def request_body(model: str, stream: bool = False, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "max_tokens": 16, "messages": HI, **extra}
    return {**body, "stream": True} if stream else body


def route(dialect: str) -> str:
    return MESSAGES if dialect == "anthropic" else CHAT


# --- checks ---------------------------------------------------------------------------------------------------


def assert_clean(env: Env, extra: Mapping[str, str] | None = None) -> None:
    """No secret in what the client got, in any log record, in any database row or file; governance secrets
    never sent upstream. The virtual key's hash may be only where it is stored: config.db's value_hash."""
    secrets = {**SECRETS, **(extra or {})}
    leaks = [f"client response #{i}: {hit}" for i, blob in enumerate(env.received) for hit in found(blob, secrets)]
    leaks += [f"{where}: {hit}" for where, text in log_texts(env.caplog) for hit in found(text, secrets)]
    for where, cell in db_cells(env.app_dir):
        checked = {k: v for k, v in secrets.items() if v != VK_HASH or where != "config.db entries.value_hash"}
        leaks += [f"{where}: {hit}" for hit in found(cell, checked)]
    for path in sorted(p for p in env.app_dir.rglob("*") if p.is_file()):
        checked = {k: v for k, v in secrets.items() if v != VK_HASH or not path.name.startswith("config.db")}
        leaks += [f"file {path.name}: {hit}" for hit in found(path.read_bytes(), checked)]
    never = {name: SECRETS[name] for name in NEVER_UPSTREAM}
    for request in env.fake.requests:
        wire = "".join(f"{k}: {v}\n" for k, v in request.headers.items()).encode() + request.body
        leaks += [f"upstream request {request.path}: {hit}" for hit in found(wire, never)]
    assert not leaks, "secrets left the gateway:\n" + "\n".join(leaks)


def assert_called(fake: FakeUpstream, path: str, provider: Provider, secret: str, reply: Reply) -> Recorded:
    """The fake got exactly one call, with the configured canary on the wire, and answered with the secret."""
    [request] = fake.requests_to(path)
    for header, text in provider.wire:
        assert text in request.headers.get(header, ""), (header, dict(request.headers))
    assert secret.encode() in sent_bytes(reply)
    return request


def message_of(body: Any) -> str:
    """The message of an error in either dialect, or of a native job's `error`."""
    while isinstance(body, dict) and "message" not in body:
        body = body.get("error")
    assert isinstance(body, dict) and isinstance(body["message"], str), body
    return body["message"]


def assert_error(answer: Answer, dialect: str, status: int, kind: str) -> str:
    """The error shape of the dialect, its status and type, and a message with the key masked (not dropped)."""
    assert answer.status == (503 if dialect == "openai" and status == 529 else status), answer
    body = answer.json()
    if dialect == "anthropic":
        assert body["type"] == "error" and body["error"]["type"] == kind, body
    else:
        openai_kind = "server_error" if kind in ("api_error", "overloaded_error") else kind
        assert set(body) == {"error"} and body["error"]["type"] == openai_kind, body
    message = message_of(body)
    assert MASK in message, message
    return message


def stream_error(body: bytes, dialect: str) -> dict[str, Any]:
    """The terminal error event of a client stream."""
    events = parse_sse(body)
    if dialect == "anthropic":
        errors = [e.json()["error"] for e in events if e.event == "error"]
    else:
        errors = [e.json()["error"] for e in events if e.data.startswith("{") and "error" in e.json()]
    assert errors, body
    error: dict[str, Any] = errors[-1]
    return error


DIALECTS = ("anthropic", "openai")


# --- the scanner itself -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SECRETS))
def test_the_scanner_finds_every_secret_in_every_form(name: str) -> None:
    secret = SECRETS[name]
    for blob in (f"x {secret} y", json.dumps({"m": secret}).encode(), quote(secret, safe="")):
        assert [hit.split(":")[0] for hit in found(blob)] == [name], blob
    assert found(f"x {MASK} y") == []


async def test_log_records_of_every_logger_and_level_are_masked(env: Env) -> None:
    """The control for every log check here: a record holding each secret is masked as it is created."""
    control = logging.getLogger("tests.security.control")
    for name, secret in SECRETS.items():
        control.debug("%s is %s", name, secret)
    try:
        raise RuntimeError(f"failed with {OPENAI_KEY}")
    except RuntimeError:
        control.exception("while holding %s", AZURE_KEY)
    records = [r for r in env.caplog.records if r.name == control.name]
    assert len(records) == len(SECRETS) + 1
    assert all(MASK in r.getMessage() for r in records), [r.getMessage() for r in records]
    assert records[-1].exc_text is not None and MASK in records[-1].exc_text
    assert_clean(env)


# --- upstream errors that echo a key ------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("case", list(ECHO))
async def test_upstream_error_echoing_a_key_is_masked(env: Env, case: str, dialect: str, stream: bool) -> None:
    echo = ECHO[case]
    path = echo.provider.up(stream)
    env.fake.script(path, echo.reply)
    answer = await env.post(route(dialect), request_body(echo.provider.model, stream))
    assert_called(env.fake, path, echo.provider, echo.secret, echo.reply)
    assert_clean(env)
    message = assert_error(answer, dialect, echo.status, echo.kind)
    assert echo.said in message, (echo.said, message)
    if echo.status == 502 and echo.reply.status in (401, 403, 400):
        assert message.startswith(f"every key of provider '{echo.provider.name}' was refused"), message


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(("provider", "secret", "reply"), MID_STREAM)
async def test_error_event_inside_a_stream_is_masked(
    env: Env, provider: Provider, secret: str, reply: Reply, dialect: str
) -> None:
    env.fake.script(provider.up(True), reply)
    answer = await env.post(route(dialect), request_body(provider.model, stream=True))
    assert_called(env.fake, provider.up(True), provider, secret, reply)
    assert_clean(env)
    assert answer.status == 200, answer
    assert b"partial" in answer.body  # the stream had started: the error could only be an event
    error = stream_error(answer.body, dialect)
    assert MASK in error["message"], error


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("dialect", DIALECTS)
async def test_every_key_refused_names_the_last_refusal_masked(env: Env, dialect: str, stream: bool) -> None:
    replies = [openai_reply(401, f"Incorrect API key provided: {key}.", key, "invalid_api_key") for key in POOL_KEYS]
    env.fake.script(POOL.path, *replies)
    answer = await env.post(route(dialect), request_body(POOL.model, stream))
    requests = env.fake.requests_to(POOL.path)
    assert sorted(r.headers["authorization"] for r in requests) == sorted(f"Bearer {k}" for k in POOL_KEYS)
    assert all(key.encode() in sent_bytes(reply) for key, reply in zip(POOL_KEYS, replies, strict=True))
    assert_clean(env)
    message = assert_error(answer, dialect, 502, "api_error")
    assert message.startswith("every key of provider 'openai-pool' was refused by the upstream (last: 401 "), message


FALLBACK_CHAINS = [
    pytest.param(("openai-429", "anthropic-529", "gemini-400-key-invalid"), id="openai-anthropic-gemini"),
    pytest.param(("bedrock-text-502", "azure-429", "groq-401"), id="bedrock-azure-groq"),
]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("chain", FALLBACK_CHAINS)
async def test_body_fallbacks_that_all_fail_are_masked(
    env: Env, chain: Sequence[str], dialect: str, stream: bool
) -> None:
    echoes = [ECHO[case] for case in chain]
    for echo in echoes:
        env.fake.script(echo.provider.up(stream), echo.reply)
    fallbacks = [echo.provider.model for echo in echoes[1:]]
    answer = await env.post(route(dialect), request_body(echoes[0].provider.model, stream, fallbacks=fallbacks))
    for echo in echoes:  # every target was tried, once
        assert_called(env.fake, echo.provider.up(stream), echo.provider, echo.secret, echo.reply)
    assert_clean(env)
    message = assert_error(answer, dialect, echoes[0].status, echoes[0].kind)
    assert echoes[0].said in message, message  # the primary's error


COUNT_CASES = [
    pytest.param(ANTHROPIC.model, "/v1/messages/count_tokens", "anthropic-400", id="anthropic-400"),
    pytest.param(ANTHROPIC.model, "/v1/messages/count_tokens", "anthropic-401", id="anthropic-401"),
    pytest.param(ANTHROPIC.model, "/v1/messages/count_tokens", "anthropic-html-503", id="anthropic-html-503"),
    pytest.param(GEMINI.model, gm.count_path(), "gemini-429", id="gemini-429"),
]


@pytest.mark.parametrize(("model", "path", "case"), COUNT_CASES)
async def test_count_tokens_error_is_masked(env: Env, model: str, path: str, case: str) -> None:
    echo = ECHO[case]
    env.fake.script(path, echo.reply)
    answer = await env.post(COUNT, {"model": model, "messages": HI})
    assert_called(env.fake, path, echo.provider, echo.secret, echo.reply)
    assert_clean(env)
    assert echo.said in assert_error(answer, "anthropic", echo.status, echo.kind)


# --- async jobs: stored, polled, and read back from disk -----------------------------------------------------------


async def _run_job(env: Env, path: str, body: dict[str, Any], native: bool) -> Answer:
    """Submit a job and poll it until it is done (bounded)."""
    poll_body: dict[str, Any] | None = None
    poll_headers: dict[str, str] | None = None
    if native:
        submitted = await env.post(path, body)
        assert submitted.status == 202, submitted
        poll_path = f"{path}/{submitted.json()['id']}"
    else:
        submitted = await env.post(path, body, {"x-bf-async": "true"})
        assert submitted.status == 200, submitted
        poll_path, poll_body, poll_headers = path, {}, {"x-bf-async-id": submitted.headers["x-bf-async-id"]}
    deadline = time.monotonic() + 5
    while True:
        answer = await env.send("GET" if native else "POST", poll_path, poll_body, poll_headers)
        if answer.headers.get("x-bf-async-status") in ("completed", "failed"):
            return answer
        assert time.monotonic() < deadline, answer
        await asyncio.sleep(0.02)


ASYNC_CASES = [
    pytest.param(MESSAGES, False, "anthropic-401", id="messages-header-anthropic-401"),
    pytest.param(CHAT, False, "bedrock-403-session-token", id="chat-header-bedrock-403"),
    pytest.param(CHAT, False, "gemini-429", id="chat-header-gemini-429"),
    pytest.param(NATIVE_CHAT, True, "openai-extra-header-400", id="native-chat-openai-400"),
    pytest.param(NATIVE_MESSAGES, True, "azure-429", id="native-messages-azure-429"),
]


@pytest.mark.parametrize(("path", "native", "case"), ASYNC_CASES)
async def test_failed_async_job_is_stored_and_served_masked(
    fake_upstream: FakeUpstream, tmp_path: Path, caplog: pytest.LogCaptureFixture, path: str, native: bool, case: str
) -> None:
    caplog.set_level(logging.DEBUG)
    echo = ECHO[case]
    fake_upstream.script(echo.provider.path, echo.reply)
    dialect = "anthropic" if path in (MESSAGES, NATIVE_MESSAGES) else "openai"
    async with serve_gateway(gateway_config(fake_upstream.url), app_dir=tmp_path / "app") as gw:
        env = Env(gw, fake_upstream, tmp_path / "app", caplog)
        done = await _run_job(env, path, request_body(echo.provider.model), native)
    # the databases are read once the gateway has closed them
    assert_called(fake_upstream, echo.provider.path, echo.provider, echo.secret, echo.reply)
    assert_clean(env)
    assert done.headers["x-bf-async-status"] == "failed", done
    if native:
        assert done.status == 200 and done.json()["status_code"] == echo.status, done
        assert echo.said in message_of(done.json()["error"]), done
    else:
        assert echo.said in assert_error(done, dialect, echo.status, echo.kind)
    stored = dict(db_cells(env.app_dir))
    assert stored["gateway.db jobs.status"] == "failed", stored
    assert MASK in str(stored["gateway.db jobs.error"]) and MASK in str(stored["gateway.db jobs.result_body"]), stored


# --- keys of every shape, known or not; governance's own secrets ----------------------------------------------------

ECHOED = [
    pytest.param("sk-proj-" + _rand(40), id="unknown-openai-project-key"),
    pytest.param("sk-ant-api03-" + _rand(60, ALNUM + "-_"), id="unknown-anthropic-key"),
    pytest.param("AKIA" + _rand(16, UPPER), id="unknown-aws-access-key-id"),
    pytest.param("AIza" + _rand(35, ALNUM + "-_"), id="unknown-google-key"),
    pytest.param("gsk_" + _rand(48), id="unknown-groq-key"),
    pytest.param("xai-" + _rand(48), id="unknown-xai-key"),
    pytest.param("Bearer " + _rand(40, ALNUM + "._-"), id="unknown-bearer-token"),
    pytest.param(VIRTUAL_KEY, id="virtual-key"),
    pytest.param(VK_HASH, id="virtual-key-hash"),
    pytest.param(ADMIN_TOKEN, id="admin-token"),
]


@pytest.mark.parametrize("where", ["error-answer", "stream-event"])
@pytest.mark.parametrize("echoed", ECHOED)
async def test_any_key_shape_or_governance_secret_echoed_upstream_is_masked(env: Env, echoed: str, where: str) -> None:
    secret = echoed.removeprefix("Bearer ")
    message = f"Incorrect API key provided: {echoed}."
    if where == "error-answer":  # translated for an Anthropic client
        reply, dialect, stream = openai_reply(400, message, secret), "anthropic", False
    else:  # relayed to an OpenAI client
        reply, dialect, stream = (
            Reply.sse([*_OPENAI_START, openai_error_frame("server_error", message)]),
            "openai",
            True,
        )
    env.fake.script(OPENAI.path, reply)
    answer = await env.post(route(dialect), request_body(OPENAI.model, stream))
    assert_called(env.fake, OPENAI.path, OPENAI, secret, reply)
    assert_clean(env, {"echoed value": secret})
    error = stream_error(answer.body, dialect) if stream else answer.json()["error"]
    assert error["message"].startswith("Incorrect API key provided: ") and MASK in error["message"], error


async def test_virtual_key_is_stored_only_as_its_hash_and_never_shown(env: Env) -> None:
    env.fake.script(OPENAI.path, Reply.json(openai_completion("fine")))
    served = await env.post(CHAT, request_body(OPENAI.model))
    assert served.status == 200 and served.json()["choices"][0]["message"]["content"] == "fine", served
    listed = await env.send("GET", ADMIN_KEYS, key=ADMIN_TOKEN)
    one = await env.send("GET", f"{ADMIN_KEYS}/vk-sec", key=ADMIN_TOKEN)
    usage = await env.send("GET", f"{ADMIN_KEYS}/vk-sec/usage", key=ADMIN_TOKEN)
    assert (listed.status, one.status, usage.status) == (200, 200, 200), (listed, one, usage)
    assert b"vk-sec" in listed.body and one.json()["id"] == "vk-sec", (listed, one)
    cells = list(db_cells(env.app_dir))
    assert [cell for where, cell in cells if where == "config.db entries.value_hash" and cell != "None"] == [VK_HASH]
    assert_clean(env)


async def test_wrong_keys_and_tokens_are_refused_without_being_echoed(env: Env) -> None:
    stranger, bad_admin = "sk-bf-" + _rand(40), "adm-wrong-" + _rand(32)
    answers = [await env.send("POST", path, request_body(OPENAI.model), key=stranger) for path in (CHAT, MESSAGES)]
    admin = await env.send("GET", ADMIN_KEYS, key=bad_admin)
    assert [a.status for a in [*answers, admin]] == [401, 401, 401], [*answers, admin]
    assert all("invalid virtual key" in message_of(a.json()) for a in answers), answers
    assert env.fake.requests == []
    assert_clean(env, {"unknown virtual key": stranger, "wrong admin token": bad_admin})


# --- the official SDKs ----------------------------------------------------------------------------------------------


async def test_anthropic_sdk_error_is_masked(env: Env) -> None:
    echo = ECHO["anthropic-401"]
    env.fake.script(ANTHROPIC.path, echo.reply)
    async with env.gw.anthropic(api_key=VIRTUAL_KEY) as client:
        with pytest.raises(anthropic.InternalServerError) as info:
            await client.messages.create(model=ANTHROPIC.model, max_tokens=16, messages=HI)
    assert_called(env.fake, ANTHROPIC.path, ANTHROPIC, echo.secret, echo.reply)
    response = info.value.response
    env.received.append(str(response.headers).encode() + response.content + str(info.value).encode())
    assert_clean(env)
    assert info.value.status_code == 502 and MASK in str(info.value), info.value


async def test_openai_sdk_stream_error_is_masked(env: Env) -> None:
    reply = Reply.sse([*_OPENAI_START, openai_error_frame("server_error", f"went wrong with {OPENAI_KEY}")])
    env.fake.script(OPENAI.path, reply)
    async with env.gw.openai(api_key=VIRTUAL_KEY) as client:
        stream = await client.chat.completions.create(model=OPENAI.model, messages=USER_HI, stream=True)
        with pytest.raises(openai.APIError) as info:
            async for _ in stream:
                pass
    assert_called(env.fake, OPENAI.path, OPENAI, OPENAI_KEY, reply)
    env.received.append(str(info.value).encode() + json.dumps(info.value.body).encode())
    assert_clean(env)
    assert MASK in str(info.value), info.value


# --- a key cut off by the error excerpt ---------------------------------------------------------------------------


async def test_a_key_cut_by_the_plain_text_excerpt_is_not_partly_revealed(env: Env) -> None:
    """A non-JSON error body is quoted up to 200 characters; a key straddling that cut must not show its start."""
    head = "<html><head><title>502 Bad Gateway</title></head><body><p>refused credential "
    page = (head.ljust(180, ".") + AZURE_KEY + "</p></body></html>").encode()
    reply = Reply.raw(page, 502, content_type="text/html")
    env.fake.script(AZURE.path, reply)
    answer = await env.post(CHAT, request_body(AZURE.model))
    assert_called(env.fake, AZURE.path, AZURE, AZURE_KEY, reply)
    assert answer.status == 502, answer
    pieces = {f"partial azure key {AZURE_KEY[i : i + 12]}": AZURE_KEY[i : i + 12] for i in range(len(AZURE_KEY) - 11)}
    assert_clean(env, pieces)
