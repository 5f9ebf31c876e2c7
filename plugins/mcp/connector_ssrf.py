"""The SSRF rule for request-supplied MCP server URLs (the connector's `mcp_servers[].url`).

A caller must not make the gateway reach what only the gateway can reach (the cloud metadata endpoint, admin
ports on loopback, the private network). So a URL must be https and every address its host resolves to must be
public, unless it is listed in `mcp.allowed_server_urls`. The rule is enforced in the HTTP transport the `mcp`
package's client sends every request through: each request (each redirect hop included) is checked when it is
sent, and the connection goes to the very address that was checked (the host name stays in the Host header and
in TLS's SNI and certificate check), so a name that resolves to a public address at check time and to a private
one a moment later (DNS rebinding) gets nowhere. A redirect's Location is checked too, so that a refused target
is named as such even where the SDK would not follow it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence

import httpx2

REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Ranges `ipaddress` counts as global that no public MCP server lives in.
_NOT_PUBLIC = (ipaddress.ip_network("100.64.0.0/10"), ipaddress.ip_network("64:ff9b:1::/48"))


class Refused(Exception):
    """A URL the rule refuses. The message names the host and why, never the URL's path, query or userinfo
    (they may carry a token)."""


def listed(url: str, allowed: Sequence[str]) -> bool:
    """True when `url` is one of `allowed` or starts with one of them at a path boundary (so that
    `https://mcp.example.com` does not let `https://mcp.example.com.evil.net` through)."""
    for entry in allowed:
        if url == entry:
            return True
        if url.startswith(entry) and (entry.endswith("/") or url[len(entry)] in "/?#"):
            return True
    return False


def public(address: str) -> bool:
    """True for an address on the public internet: not loopback, private, link-local (169.254.169.254
    included), CGNAT, multicast, reserved or unspecified, nor an IPv6 form of one of those."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # a scoped IPv6 address ("fe80::1%eth0") is link-local
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            return public(str(embedded))
    if any(ip in network for network in _NOT_PUBLIC if network.version == ip.version):
        return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified or ip.is_loopback)


async def public_addresses(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, if all are public; else Refused (one private address is enough:
    which of them a connection would use is not ours to know)."""
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        found = [str(literal)]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError:
            raise Refused(f"host {host} does not resolve") from None
        found = list(dict.fromkeys(str(info[4][0]) for info in infos))
    refused = [address for address in found if not public(address)]
    if refused or not found:
        raise Refused(f"host {host} resolves to a non-public address ({', '.join(refused) or 'none'})")
    return found


def origin(url: httpx2.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


async def check_url(
    url: httpx2.URL, allowed: Sequence[str], origins: frozenset[tuple[str, str, int | None]] = frozenset()
) -> str | None:
    """None for a URL the allow-list lets through as it is (or on the origin of the listed URL the session
    started from: an SSE server names its own message endpoint); else the checked address to connect to."""
    if listed(str(url), allowed) or origin(url) in origins:
        return None
    if url.scheme != "https":
        raise Refused(f"{url.scheme}://{url.host} is not https (and not in mcp.allowed_server_urls)")
    return (await public_addresses(url.host, url.port or 443))[0]


class GuardedTransport(httpx2.AsyncBaseTransport):
    """An httpx2 transport that applies the rule to every request and every redirect it answers.

    `refused` keeps the first refusal: the `mcp` client may report a failed request as its own error, and the
    gateway still answers with the refusal's reason.
    """

    def __init__(self, allowed: Sequence[str], url: str) -> None:
        self.allowed = tuple(allowed)
        start = httpx2.URL(url)
        self.origins = frozenset({origin(start)} if listed(str(start), self.allowed) else ())
        self.refused: Refused | None = None
        self.status: int | None = None  # the first error status a server answered (the SDK may not say it)
        # trust_env off: a proxy from the environment would make the connection, not to the checked address.
        self._inner = httpx2.AsyncHTTPTransport(trust_env=False)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        try:
            address = await check_url(request.url, self.allowed, self.origins)
        except Refused as exc:
            self.refused = self.refused or exc
            raise
        sent = request
        if address is not None:
            sent = httpx2.Request(
                request.method,
                request.url.copy_with(host=address),
                headers=request.headers,  # its Host header names the host, as the server expects
                stream=request.stream,
                extensions={**request.extensions, "sni_hostname": request.url.host},
            )
        response = await self._inner.handle_async_request(sent)
        if response.status_code >= 400 and self.status is None:
            self.status = response.status_code
        location = response.headers.get("location")
        if response.status_code in REDIRECTS and location:
            try:
                await check_url(request.url.join(location), self.allowed, self.origins)
            except Refused as exc:
                await response.aclose()
                self.refused = self.refused or Refused(f"a redirect to a refused URL: {exc}")
                raise self.refused from None
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
