"""Each provider's connections upstream: its own aiohttp session, so that its network_config
(`keep_alive_timeout_in_seconds`, `max_conns_per_host`) and `proxy_config` apply to it alone.

Proxy types (Bifrost's): `none`; `http`, an HTTP proxy (aiohttp's proxy support: CONNECT for https upstreams,
absolute-form requests for http ones) with Basic credentials from username/password; `environment`, the
HTTP(S)_PROXY / NO_PROXY variables (aiohttp's trust_env); `socks5` is not supported yet (no SOCKS library among
our dependencies): such a provider connects directly, and loading the config says so. `ca_cert_pem` adds a CA to
trust, for proxies that intercept TLS.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator

import aiohttp

from ..config import ProviderConfig, Settings
from .upstream import UpstreamClient

DNS_CACHE_S = 300


@contextlib.asynccontextmanager
async def provider_clients(settings: Settings) -> AsyncIterator[dict[str, UpstreamClient]]:
    """An UpstreamClient per configured provider, their sessions closed on exit."""
    async with contextlib.AsyncExitStack() as stack:
        clients = {}
        for name, config in settings.providers.items():
            session = await stack.enter_async_context(_session(config))
            clients[name] = UpstreamClient(session, *http_proxy(config))
        yield clients


def _session(config: ProviderConfig) -> aiohttp.ClientSession:
    network, proxy = config.network_config, config.proxy_config
    ssl_context: ssl.SSLContext | bool = True
    if proxy.ca_cert_pem:
        ssl_context = ssl.create_default_context()
        ssl_context.load_verify_locations(cadata=proxy.ca_cert_pem)
    connector = aiohttp.TCPConnector(
        limit=0,  # concurrency_and_buffer_size is the limit on calls; this one is per upstream host
        limit_per_host=network.max_conns_per_host,
        keepalive_timeout=network.keep_alive_timeout_in_seconds,
        ttl_dns_cache=DNS_CACHE_S,
        ssl=ssl_context,
    )
    return aiohttp.ClientSession(connector=connector, auto_decompress=True, trust_env=proxy.type == "environment")


def http_proxy(config: ProviderConfig) -> tuple[str | None, dict[str, str] | None]:
    """The provider's HTTP proxy and the header with its credentials, if it has one."""
    proxy = config.proxy_config
    if proxy.type != "http" or not proxy.url:
        return None, None
    if proxy.username is None:
        return proxy.url, None
    return proxy.url, {"Proxy-Authorization": aiohttp.encode_basic_auth(proxy.username, proxy.password or "")}
