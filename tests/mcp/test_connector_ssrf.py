"""The SSRF rule on request-supplied MCP server URLs: https to public addresses only, unless allow-listed in
`mcp.allowed_server_urls`; loopback, the metadata address, a name that resolves to loopback and a redirect from
an allow-listed server to a private address are each a 400 naming the server, before any model call."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from gateway.testing import FakeUpstream, Reply
from gateway_plugins.mcp.connector_ssrf import listed, public
from tests.conftest import MakeGateway
from tests.mcp.helpers import CHAT, TOKEN, connector_config, free_port, server_entry

BETA = "mcp-client-2025-04-04"


async def refusal(make_gateway: MakeGateway, fake: FakeUpstream, url: str, allowed: list[str]) -> str:
    gateway = await make_gateway(connector_config(fake, allowed))
    with pytest.raises(anthropic.BadRequestError) as caught:
        await gateway.anthropic().beta.messages.create(
            model="openai/gpt-x", max_tokens=16, messages=[{"role": "user", "content": "Hi"}], betas=[BETA],
            mcp_servers=[server_entry(url)],
        )  # fmt: skip
    assert fake.requests_to(CHAT) == []
    body: Any = caught.value.body
    assert body["error"]["type"] == "invalid_request_error"
    message: str = body["error"]["message"]
    assert message.startswith("mcp_servers: docs: url refused: ") and TOKEN not in message
    return message


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:{port}/mcp", "http://127.0.0.1 is not https"),
        ("https://127.0.0.1:{port}/mcp?key=abc", "host 127.0.0.1 resolves to a non-public address (127.0.0.1)"),
        ("https://169.254.169.254/latest/meta-data", "host 169.254.169.254 resolves to a non-public address"),
        ("https://localhost:{port}/mcp", "host localhost resolves to a non-public address"),
        ("https://[::ffff:10.0.0.1]/mcp", "resolves to a non-public address (::ffff:a00:1)"),
    ],
)
async def test_a_url_that_is_not_https_to_a_public_address_is_refused(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, url: str, why: str
) -> None:
    url = url.format(port=free_port())
    message = await refusal(make_gateway, fake_upstream, url, allowed=["http://127.0.0.1:1/", "https://example.com"])
    assert why in message, message
    assert "key=abc" not in message


async def test_a_redirect_from_an_allow_listed_server_to_a_private_address_is_refused(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    async with FakeUpstream() as redirecting:
        redirecting.default("/mcp", Reply.raw(b"", 307, {"Location": "http://10.1.2.3/mcp"}))
        url = f"{redirecting.url}/mcp"
        message = await refusal(make_gateway, fake_upstream, url, allowed=[url])
        assert redirecting.requests_to("/mcp"), "the allow-listed server was asked"
    assert "a redirect to a refused URL: http://10.1.2.3 is not https" in message


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
     "224.0.0.1", "255.255.255.255", "::1", "::", "fc00::1", "fd12::1", "fe80::1", "fe80::1%eth0",
     "::ffff:127.0.0.1", "::ffff:169.254.169.254", "2002:a00:1::", "ff02::1"],
)  # fmt: skip
def test_addresses_that_are_not_public(address: str) -> None:
    assert not public(address)


@pytest.mark.parametrize("address", ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111", "::ffff:1.1.1.1"])
def test_public_addresses(address: str) -> None:
    assert public(address)


def test_an_allow_listed_prefix_ends_at_a_path_boundary() -> None:
    allowed = ["https://mcp.example.com", "http://127.0.0.1:8000/tools/"]
    assert listed("https://mcp.example.com", allowed)
    assert listed("https://mcp.example.com/mcp", allowed)
    assert listed("http://127.0.0.1:8000/tools/a", allowed)
    assert not listed("https://mcp.example.com.evil.net/mcp", allowed)
    assert not listed("https://mcp.example.comx/mcp", allowed)
    assert not listed("http://127.0.0.1:8000/other", allowed)
