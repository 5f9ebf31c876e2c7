"""One redaction step for every secret the gateway holds, applied where text leaves the process.

What it knows: every configured secret value (provider keys and their cloud credentials, credential-like extra
headers, and whatever plugins add: virtual keys and their stored hashes, the admin token, MCP tokens), plus the
shapes of common API keys, so that a key the gateway never saw (a client's, an upstream's echo of a rotated key)
is caught too. Where it applies: error bodies and stream error events (the HTTP error middleware and the SSE
writer), stored async jobs (their error and error body), and every log record at every level (a log record
factory, because handlers and their filters are the deployer's to configure, not ours).

Successful answers are not scanned: they are the client's content, relayed byte-exact (ARCHITECTURE decision 2).
"""

from __future__ import annotations

import copy
import logging
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .config_shared import store_secrets
from .errors import GatewayError

if TYPE_CHECKING:
    from .config import Settings

MASK = "[REDACTED]"
# A configured value shorter than this is no secret (e.g. "none" for a local vLLM); masking it would only
# mangle messages.
MIN_SECRET_LENGTH = 8
MIN_PARTIAL = 6  # the shortest start of a secret masked where a text is cut off in its middle
# Request-supplied secrets (`add_transient`) kept at once: the most recent ones, so that a stream of requests that
# each bring a token neither grows memory nor recompiles the pattern.
MAX_TRANSIENT = 512
# Key shapes redacted wherever they appear, known or not.
KEY_SHAPES = (
    r"sk-[A-Za-z0-9_\-]{16,}",  # OpenAI (sk-, sk-proj-), Anthropic (sk-ant-), our virtual keys (sk-bf-), DeepSeek
    r"AIza[0-9A-Za-z_\-]{30,}",  # Google API keys
    r"(?:AKIA|ASIA)[0-9A-Z]{16}",  # AWS access key ids
    r"gsk_[A-Za-z0-9]{20,}",  # Groq
    r"xai-[A-Za-z0-9]{20,}",  # xAI
    r"(?i:bearer)\s+[A-Za-z0-9._~+/\-]{16,}=*",  # any bearer credential echoed in a message
)
# Header names whose values are credentials (network_config.extra_headers may carry one).
_CREDENTIAL_HEADER = re.compile(r"authorization|api[-_]?key|token|secret|cookie|signature", re.IGNORECASE)


class Redactor:
    """Masks known secrets and key shapes. Plugins add the secrets they own with `add` (e.g. at start-up)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._starts: set[str] = set()  # every secret's beginnings, from MIN_PARTIAL characters on
        self._longest = 0
        self._pattern = re.compile("|".join(KEY_SHAPES))
        self._transient: OrderedDict[str, None] = OrderedDict()
        self.add(*secrets)

    def add_transient(self, *secrets: str) -> None:
        """Treat these values as secrets for a while: a request's own credentials (an MCP server token it
        brought), masked during its call and after, until MAX_TRANSIENT newer ones have come. Matched as plain
        substrings (no pattern rebuilt per request); costs the redaction of a text one scan per value held."""
        for secret in secrets:
            if isinstance(secret, str) and len(secret) >= MIN_SECRET_LENGTH and secret not in self._secrets:
                self._transient[secret] = None
                self._transient.move_to_end(secret)
        while len(self._transient) > MAX_TRANSIENT:
            self._transient.popitem(last=False)

    def add(self, *secrets: str) -> None:
        """Treat these values as secrets from now on (values under MIN_SECRET_LENGTH are ignored)."""
        new = {s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_LENGTH} - self._secrets
        if not new:
            return
        self._secrets |= new
        self._starts |= {secret[:n] for secret in new for n in range(MIN_PARTIAL, len(secret))}
        self._longest = max(self._longest, *(len(secret) for secret in new))
        # Longest first, so a secret that contains another is masked whole.
        literals = [re.escape(s) for s in sorted(self._secrets, key=len, reverse=True)]
        self._pattern = re.compile("|".join([*literals, *KEY_SHAPES]))

    def text(self, value: str) -> str:
        value = self._pattern.sub(MASK, value)
        for secret in self._transient:
            if secret in value:
                value = value.replace(secret, MASK)
        return self._cut_secret(value)

    def has_secret(self, value: str) -> bool:
        if self._pattern.search(value) is not None or self._cut_secret(value) is not value:
            return True
        return any(secret in value for secret in self._transient)

    def _cut_secret(self, value: str) -> str:
        """Mask the start of a secret that ends the text: error bodies are quoted as excerpts (`body[:200]`), and
        a secret the cut runs through is no longer whole. A set lookup per length: cheap with many secrets."""
        for length in range(min(self._longest, len(value)), MIN_PARTIAL - 1, -1):
            if value[-length:] in self._starts:
                return value[:-length] + MASK
        return value

    def error(self, exc: GatewayError) -> GatewayError:
        """`exc` itself when its message holds no secret, else a copy whose message is masked."""
        if not self.has_secret(exc.message) and not (exc.param and self.has_secret(exc.param)):
            return exc
        clean = copy.copy(exc)
        clean.message = self.text(exc.message)
        clean.args = (clean.message,)
        if exc.param:
            clean.param = self.text(exc.param)
        return clean

    def record(self, record: logging.LogRecord) -> None:
        """Mask a log record in place: its message with its arguments, its traceback and its stack."""
        message = record.getMessage()
        if self.has_secret(message):
            record.msg, record.args = self.text(message), None
        if record.exc_info and record.exc_info[1] is not None:
            # Format the traceback now, masked; formatters use exc_text when it is set.
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = self.text(text)
        if record.stack_info:
            record.stack_info = self.text(record.stack_info)


def configured_secrets(settings: Settings) -> list[str]:
    """Every secret in the core config: provider keys, their cloud credentials, credential-like headers, proxy
    passwords, and the URLs (and passwords) of Redis and the PostgreSQL stores."""
    found = store_secrets(settings.config_store, settings.logs_store)
    if settings.redis is not None:
        found += settings.redis.secrets()
    for provider in settings.providers.values():
        for key in provider.keys:
            found.append(key.value)
            for extra in (key.azure_key_config, key.bedrock_key_config):
                found.extend(_credential_values(extra or {}))
        found.extend(v for k, v in provider.network_config.extra_headers.items() if _CREDENTIAL_HEADER.search(k))
        if provider.proxy_config.password:
            found.append(provider.proxy_config.password)
    return found


def _credential_values(config: dict[str, Any]) -> list[str]:
    """String values of a key's provider-specific config that are credentials (not endpoints or regions)."""
    return [v for k, v in config.items() if isinstance(v, str) and re.search("key|secret|token", k, re.IGNORECASE)]


def install_log_redaction(redactor: Redactor) -> Callable[[], None]:
    """Mask every log record the process creates from now on; returns the function that stops it.

    A record factory rather than a handler filter: it sees records of every logger at every enabled level,
    whatever handlers the deployer configured (and only records that will be emitted are ever built).
    """
    previous = logging.getLogRecordFactory()
    active = True

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if active:
            redactor.record(record)
        return record

    def uninstall() -> None:
        nonlocal active
        active = False  # if another factory was installed on top, ours stays in its chain, inert
        if logging.getLogRecordFactory() is factory:
            logging.setLogRecordFactory(previous)

    logging.setLogRecordFactory(factory)
    return uninstall
